"""Optimizer comparisons: the same spec under several optimizers and seeds, and their table.

An optimizer named without an lr gets its usual default (torch's where it has one: Adam,
AdamW, AMSGrad and RMSprop 1e-3 / 1e-2, Adagrad 1e-2, Adadelta 1.0; SGD with momentum 0.9 at
1e-2), so each is compared as a practitioner would first try it; weight decay comes from the
base spec. The table reports, per optimizer over its seeds: the final and best value of the
metric (mean and standard deviation), and how long and how many epochs it took to reach the
target, when one is given.
"""

from __future__ import annotations

import statistics
from typing import Any

from sqlalchemy.orm import Session

from adamant.store import jobs as store_jobs
from adamant.store import metrics as store_metrics
from adamant.store.models import Sweep, Trial
from service.sweeps.requests import ComparisonRequest, OptimizerChoice

DEFAULT_LR = {"adam": 1e-3, "adamw": 1e-3, "amsgrad": 1e-3, "sgd": 1e-2, "rmsprop": 1e-3, "adagrad": 1e-2, "adadelta": 1.0}


def optimizer_block(choice: str | OptimizerChoice, base: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if isinstance(choice, str):
        choice = OptimizerChoice(name=choice)
    block = {"name": choice.name, "lr": choice.lr or DEFAULT_LR[choice.name], "weight_decay": base.get("weight_decay", 0.0)}
    if choice.name == "adamw" and "weight_decay" not in base:
        block["weight_decay"] = 0.01
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
                                                    "failed": 0, "error": None})
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
