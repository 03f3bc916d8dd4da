"""The training loop: set up, loop, evaluate, checkpoint — read it top to bottom.

Data lives in tensors on the device before the first step; a batch is an index_select of a
seeded permutation, never a per-row Python loop. The permutation of epoch e is a pure function
of (seed, e), the dropout RNG is saved with each checkpoint, and the lr is a pure function of
the step, so a run resumed from a checkpoint follows the uninterrupted trajectory bit for bit.
Per-step work is kept to what the step needs: diagnostics (gradient norm, update/parameter
ratio, samples/s) are measured on logging steps only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from adamant.exceptions import CheckpointError, TrainingError
from adamant.spec import JobSpec
from worker.engine import checkpoints as ckpt
from worker.engine.blocks import BlockOrder
from worker.engine.diagnostics import clip_grad_norm, grad_norm, parameter_snapshot, update_ratios
from worker.engine.reporting import CheckpointInfo, MetricPoint, NullReporter, Progress, Reporter
from worker.engine.schedules import lr_multiplier
from worker.engine.setup import TrainingSetup

Sliceable = torch.Tensor | BlockOrder


@dataclass
class LoopState:
    """Where the loop is; saved in every checkpoint so a resume continues from here."""

    step: int = 0
    epoch: int = 0  # the epoch in progress (0-based)
    batch: int = 0  # the next batch within that epoch
    best_value: float | None = None
    best_step: int | None = None
    evals_without_improvement: int = 0
    window_loss: float = 0.0  # training loss summed since the last logged point
    window_batches: int = 0
    epoch_loss: float = 0.0
    epoch_batches: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TrainResult:
    stop_reason: str  # completed | early_stopped | time_limit | cancelled
    step: int
    epoch: float
    last_metrics: dict[str, float]
    best_metrics: dict[str, float]
    best_checkpoint: Path | None
    resumed_from_step: int | None
    summary: dict[str, Any] = field(default_factory=dict)


def epoch_permutation(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).to(device)


def epoch_order(objective: object, seed: int, epoch: int, device: torch.device) -> Sliceable:
    """The rows of epoch `epoch` in training order: the objective's own order where it keeps one
    (streamed rows: a block order, worker/engine/blocks.py), else a permutation of every row."""
    own = getattr(objective, "epoch_order", None)
    if own is not None:
        return own(seed, epoch)
    return epoch_permutation(objective.n_train, seed, epoch, device)  # type: ignore[attr-defined]


def batches_per_epoch(n_rows: int, batch_size: int) -> int:
    """Batches in an epoch. A last batch of one row is merged into the one before it (which
    then holds batch_size + 1 rows): batch norm cannot normalise a single row, and merging
    keeps every row in every epoch where dropping it would not."""
    batches = math.ceil(n_rows / batch_size)
    return batches - 1 if batches > 1 and n_rows % batch_size == 1 else batches


def train(
    setup: TrainingSetup,
    run_dir: Path,
    reporter: Reporter | None = None,
    *,
    resume: bool = True,
) -> TrainResult:
    spec, model, optimizer, objective = setup.spec, setup.model, setup.optimizer, setup.objective
    reporter = reporter or NullReporter()
    training = spec.training
    batch_size = min(training.batch_size, objective.n_train)
    steps_per_epoch = batches_per_epoch(objective.n_train, batch_size)
    total_steps = steps_per_epoch * training.epochs
    schedule = lr_multiplier(spec.schedule, training.epochs, steps_per_epoch)
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    monitor, mode = spec.monitor
    params = [p for p in model.parameters() if p.requires_grad]

    state = LoopState()
    resumed_from = None
    if resume and (latest := ckpt.latest_valid_checkpoint(run_dir)) is not None:
        state = restore(setup, latest)
        resumed_from = state.step
        reporter.log(f"resumed from checkpoint at step {state.step} (epoch {state.epoch}, batch {state.batch})")
    reporter.resumed(state.step)

    last_metrics: dict[str, float] = {}
    best_metrics: dict[str, float] = {}
    stop_reason = "completed"
    started = time.monotonic()
    window_started, window_samples = started, 0
    model.train()
    # Each step's loss stays on the device until a logging step, an epoch's end or a stop: a
    # float() per step would make the CPU wait for the GPU every step. Settled in step order,
    # so the sums are the same floats as if each had been added at once.
    pending: list[torch.Tensor] = []

    def settle_losses() -> None:
        if pending:
            for value in torch.stack(pending).tolist():  # one device sync for the whole window
                state.window_loss += value
                state.window_batches += 1
                state.epoch_loss += value
                state.epoch_batches += 1
            pending.clear()

    while state.epoch < training.epochs and stop_reason == "completed":
        permutation = epoch_order(objective, training.seed, state.epoch, setup.device)
        while state.batch < steps_per_epoch:
            if reporter.should_stop():
                stop_reason = "cancelled"
                break
            if training.time_limit_s is not None and time.monotonic() - started > training.time_limit_s:
                stop_reason = "time_limit"
                break
            start = state.batch * batch_size
            stop = objective.n_train if state.batch == steps_per_epoch - 1 else start + batch_size
            idx = permutation[start:stop]
            logging_step = (state.step + 1) % training.log_every_steps == 0
            factor = schedule(state.step)
            for group, base in zip(optimizer.param_groups, base_lrs):
                group["lr"] = base * factor

            optimizer.zero_grad(set_to_none=True)
            loss = objective.batch_loss(model, idx)
            loss.backward()
            norm = None
            if training.grad_clip_norm is not None:
                norm = clip_grad_norm(params, training.grad_clip_norm)
            elif logging_step:
                norm = grad_norm(params)
            before = parameter_snapshot(optimizer) if logging_step else None
            optimizer.step()

            pending.append(loss.detach())
            state.step += 1
            state.batch += 1
            window_samples += idx.numel()
            if logging_step:
                settle_losses()
                if not math.isfinite(state.window_loss):
                    raise TrainingError(
                        f"training loss became {state.window_loss} at step {state.step}; "
                        f"lower optimizer.lr (now {spec.optimizer.lr}) or set training.grad_clip_norm"
                    )
                now = time.monotonic()
                rate = window_samples / max(now - window_started, 1e-9)
                epoch_f = state.step / steps_per_epoch
                points = [
                    MetricPoint(state.step, epoch_f, "loss", state.window_loss / state.window_batches),
                    MetricPoint(state.step, epoch_f, "lr", optimizer.param_groups[0]["lr"]),
                    MetricPoint(state.step, epoch_f, "grad_norm", norm if norm is not None else float("nan")),
                    MetricPoint(state.step, epoch_f, "samples_per_s", rate),
                ]
                points += [
                    MetricPoint(state.step, epoch_f, name, value)
                    for name, value in update_ratios(optimizer, before).items()  # type: ignore[arg-type]
                ]
                reporter.metrics(points)
                remaining = (total_steps - state.step) * idx.numel() / max(rate, 1e-9)
                reporter.progress(
                    Progress(state.step, total_steps, epoch_f, training.epochs, rate, now - started, remaining)
                )
                state.window_loss, state.window_batches = 0.0, 0
                window_started, window_samples = now, 0

        settle_losses()
        if stop_reason != "completed":
            break
        # End of an epoch: evaluate, maybe checkpoint, maybe stop early.
        finished_epoch = state.epoch + 1
        train_loss = state.epoch_loss / state.epoch_batches if state.epoch_batches else None
        # The finished epoch's loss is spent before anything is saved: a checkpoint taken below
        # resumes the next epoch from a zero sum, as the uninterrupted run continues.
        state.epoch, state.batch = finished_epoch, 0
        state.epoch_loss, state.epoch_batches = 0.0, 0
        if finished_epoch % training.eval_every_epochs == 0 or finished_epoch == training.epochs:
            last_metrics = evaluate(setup, state, steps_per_epoch, reporter, train_loss)
            improved = _improved(last_metrics.get(monitor), state.best_value, mode, spec)
            if improved:
                state.best_value, state.best_step = last_metrics[monitor], state.step
                state.evals_without_improvement = 0
                best_metrics = dict(last_metrics)
            else:
                state.evals_without_improvement += 1
            due = finished_epoch % spec.checkpointing.every_epochs == 0 or finished_epoch == training.epochs
            stopping = (
                spec.training.early_stopping is not None
                and state.evals_without_improvement >= spec.training.early_stopping.patience
                and finished_epoch < training.epochs
            )
            if due or improved or stopping:
                save(setup, run_dir, state, last_metrics, is_best=improved, reporter=reporter)
            if stopping:
                stop_reason = "early_stopped"
                reporter.log(
                    f"early stopping after epoch {finished_epoch}: {monitor} did not improve for "
                    f"{state.evals_without_improvement} evaluations (best {state.best_value} at step {state.best_step})"
                )

    if stop_reason in ("cancelled", "time_limit"):
        # Keep the work done so far: a cancelled job can be resumed, a timed-out one scored.
        save(setup, run_dir, state, last_metrics, is_best=False, reporter=reporter)
        reporter.log(f"stopped ({stop_reason}) at step {state.step}")

    summary: dict[str, Any] = {}
    if stop_reason != "cancelled":
        summary, rewritten = setup.finish(run_dir)
        if rewritten is not None:
            reporter.checkpoint(rewritten)
    best_dir = run_dir / "best"
    return TrainResult(
        stop_reason=stop_reason,
        step=state.step,
        epoch=state.step / steps_per_epoch,
        last_metrics=last_metrics,
        best_metrics=best_metrics or _best_from_disk(best_dir),
        best_checkpoint=best_dir if best_dir.exists() else None,
        resumed_from_step=resumed_from,
        summary=summary,
    )


def _improved(value: float | None, best: float | None, mode: str, spec: JobSpec) -> bool:
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    delta = spec.training.early_stopping.min_delta if spec.training.early_stopping else 0.0
    return value < best - delta if mode == "min" else value > best + delta


def _best_from_disk(best_dir: Path) -> dict[str, float]:
    try:
        return dict(ckpt.read_manifest(best_dir).get("metrics", {}))
    except CheckpointError:
        return {}


def evaluate(
    setup: TrainingSetup, state: LoopState, steps_per_epoch: int, reporter: Reporter, train_loss: float | None
) -> dict[str, float]:
    model = setup.model
    model.eval()
    try:
        result = setup.objective.evaluate(model)
    finally:
        model.train()
    if train_loss is not None:
        result["train_loss"] = train_loss
    if not math.isfinite(result.get("val_loss", 0.0)):
        raise TrainingError(
            f"validation loss is {result['val_loss']} after epoch {state.epoch}; lower optimizer.lr "
            f"(now {setup.spec.optimizer.lr}) or set training.grad_clip_norm"
        )
    epoch_f = state.step / steps_per_epoch
    reporter.metrics([MetricPoint(state.step, epoch_f, name, float(value)) for name, value in result.items()])
    return result


def save(
    setup: TrainingSetup,
    run_dir: Path,
    state: LoopState,
    metrics: dict[str, float],
    *,
    is_best: bool,
    reporter: Reporter,
) -> Path:
    directory = ckpt.step_directory(run_dir, state.step)
    trainer_tensors = {"rng.cpu": torch.get_rng_state()}
    if setup.device.type == "cuda":
        trainer_tensors["rng.cuda"] = torch.cuda.get_rng_state(setup.device)
    payload = ckpt.CheckpointPayload(
        model_state=setup.model.state_dict(),
        optimizer_state=setup.optimizer.state_dict(),
        trainer_tensors=trainer_tensors,
        manifest={
            "step": state.step,
            "epoch": state.epoch,
            "metrics": metrics,
            "loop": state.to_dict(),
            **setup.describe(),
        },
    )
    sha, size = ckpt.write_checkpoint(directory, payload)
    if is_best and setup.spec.checkpointing.keep_best:
        ckpt.publish_best(run_dir, directory)
    best_step = state.step if is_best else state.best_step
    keep = ckpt.step_directory(run_dir, best_step) if best_step is not None and setup.spec.checkpointing.keep_best else None
    ckpt.prune_checkpoints(run_dir, setup.spec.checkpointing.keep_last, keep=keep)
    reporter.checkpoint(CheckpointInfo(state.step, float(state.epoch), directory, metrics, sha, size, is_best))
    return directory


def restore(setup: TrainingSetup, directory: Path) -> LoopState:
    payload = ckpt.load_checkpoint(directory)
    setup.load_weights(payload.model_state)
    setup.optimizer.load_state_dict(payload.optimizer_state)
    torch.set_rng_state(payload.trainer_tensors["rng.cpu"])
    if setup.device.type == "cuda" and "rng.cuda" in payload.trainer_tensors:
        torch.cuda.set_rng_state(payload.trainer_tensors["rng.cuda"], setup.device)
    state = LoopState(**payload.manifest["loop"])
    if state.batch == 0:
        # Checkpoints written before the fix kept the finished epoch's loss sum here; an epoch
        # that has not started has none.
        state.epoch_loss, state.epoch_batches = 0.0, 0
    return state


__all__ = ["LoopState", "TrainResult", "epoch_permutation", "train", "nn"]
