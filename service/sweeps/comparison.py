"""Optimizer comparisons: the same spec under several optimizers and seeds, and their table.

An optimizer is compared as torch builds it when given nothing but the parameters: each one's
own lr, eps and other hyperparameters (TORCH_DEFAULTS; tests/worker/adam check them against
torch's signatures), so Adadelta runs at its eps 1e-6 and RMSprop at its lr 1e-2, not Adam's.
What a choice names (`lr`, `overrides`) and the base spec's weight decay win over them. Each
table row says which hyperparameters its optimizer ran with. The table reports, per optimizer
over its seeds: the final and best value of the metric (mean and standard deviation), and how
long and how many epochs it took to reach the target, when one is given.
"""

from __future__ import annotations

import statistics
from typing import Any

from sqlalchemy.orm import Session

from adamant.store import jobs as store_jobs
from adamant.store import metrics as store_metrics
from adamant.store.models import Sweep, Trial
from service.sweeps.requests import ComparisonRequest, OptimizerChoice

_ADAM = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}
# torch.optim's defaults (2.x), in the job spec's names; the service never imports torch.
TORCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "adam": _ADAM,
    "adamw": {**_ADAM, "weight_decay": 0.01},
    "amsgrad": _ADAM,  # torch.optim.Adam(amsgrad=True)
    "sgd": {"lr": 1e-3, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
    "rmsprop": {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0},
    "adagrad": {"lr": 1e-2, "eps": 1e-10, "weight_decay": 0.0},
    "adadelta": {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0},
}


def optimizer_block(choice: str | OptimizerChoice, base: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(label, the spec's `optimizer` block) of one compared optimizer."""
    if isinstance(choice, str):
        choice = OptimizerChoice(name=choice)
    block = {"name": choice.name, **TORCH_DEFAULTS[choice.name]}
    if "weight_decay" in base:  # the user's, for every optimizer
        block["weight_decay"] = base["weight_decay"]
    if choice.lr is not None:
        block["lr"] = choice.lr
    block.update(choice.overrides)
    return choice.label or choice.name, block


def comparison_trials(request: ComparisonRequest) -> list[tuple[str, dict[str, Any]]]:
    base = request.base.optimizer.model_dump(mode="json", exclude_defaults=True)
    out = []
    for choice in request.optimizers:
        label, block = optimizer_block(choice, base)
        for seed in request.seeds:
            out.append((label, {"optimizer": block, "training.seed": seed}))
    return out


def _hyperparameters(trial: Trial) -> dict[str, Any]:
    block = dict((trial.params or {}).get("optimizer") or {})
    block.pop("name", None)
    return block


def _reached(points: list[Any], target: float, mode: str) -> Any | None:
    for point in points:
        if point.value is not None and (point.value >= target if mode == "max" else point.value <= target):
            return point
    return None


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "std": None}
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def comparison_table(session: Session, sweep: Sweep, trials: list[Trial], request: ComparisonRequest) -> list[dict[str, Any]]:
    metric, mode = request.base.monitor
    target = request.target
    target_mode = mode if target is None or target.metric == metric else ("min" if "loss" in target.metric or "rmse" in target.metric else "max")
    rows: dict[str, dict[str, Any]] = {}
    for trial in trials:
        row = rows.setdefault(trial.label or "?", {"optimizer": trial.label, "runs": 0, "finished": 0, "final": [], "best": [],
                                                    "seconds": [], "to_target_s": [], "to_target_epochs": [], "reached": 0,
                                                    "failed": 0, "error": None,
                                                    "hyperparameters": _hyperparameters(trial)})
        row["runs"] += 1
        if trial.job_id is None:
            continue
        job = store_jobs.get_job_any_tenant(session, trial.job_id)
        if str(job.status) == "failed":
            row["failed"] += 1
            row["error"] = row["error"] or (job.error or {}).get("message")
        if str(job.status) != "succeeded":
            continue
        row["finished"] += 1
        final = (job.last_metrics or {}).get(metric)
        best = (job.best_metrics or {}).get(metric)
        if final is not None:
            row["final"].append(float(final))
        if best is not None:
            row["best"].append(float(best))
        if job.started_at and job.finished_at:
            row["seconds"].append(job.finished_at - job.started_at)
        if target is not None:
            points, _ = store_metrics.next_metrics(session, job.id, names=[target.metric], limit=10_000)
            hit = _reached(points, target.value, target_mode)
            if hit is not None and job.started_at:
                row["reached"] += 1
                row["to_target_s"].append(max(0.0, hit.time - job.started_at))
                row["to_target_epochs"].append(hit.epoch)
    table = []
    for row in rows.values():
        table.append({
            "optimizer": row["optimizer"],
            "hyperparameters": row["hyperparameters"],  # what the optimizer ran with (its defaults unless given)
            "runs": row["runs"],
            "finished": row["finished"],
            "failed": row["failed"],
            "error": row["error"],  # the first failed run's reason, so a blank row explains itself
            f"final_{metric}": _stats(row["final"]),
            f"best_{metric}": _stats(row["best"]),
            "train_seconds": _stats(row["seconds"]),
            **({"target": f"{target.metric} {'>=' if target_mode == 'max' else '<='} {target.value}",
                "reached_target": row["reached"],
                "seconds_to_target": _stats(row["to_target_s"]),
                "epochs_to_target": _stats(row["to_target_epochs"])} if target else {}),
        })
    key = f"best_{metric}"
    return sorted(table, key=lambda r: (r[key]["mean"] is None, -(r[key]["mean"] or 0) if mode == "max" else (r[key]["mean"] or 0)))


def curves(session: Session, trials: list[Trial], metric: str) -> list[dict[str, Any]]:
    out = []
    for trial in trials:
        if trial.job_id is None:
            continue
        points, _ = store_metrics.next_metrics(session, trial.job_id, names=[metric], limit=10_000)
        latest: dict[int, Any] = {}
        for point in points:  # a resumed job may repeat a step: keep the latest
            latest[point.step] = point
        out.append({
            "trial": trial.number,
            "label": trial.label,
            "params": trial.params,
            "job_id": trial.job_id,
            "points": [{"step": p.step, "epoch": p.epoch, "value": p.value} for p in sorted(latest.values(), key=lambda p: p.step)],
        })
    return out
