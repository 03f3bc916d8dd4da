"""Asynchronous successive halving as pure functions of the values trials reached at rungs.

Rungs sit at grace·η^k epochs (below the spec's last epoch). When a trial has been evaluated
at or after a rung, its value there joins that rung's record; it continues only if it is among
the top ⌊n/η⌋ of the n values recorded at the rung so far (at least the best one), the rule
of Optuna's SuccessiveHalvingPruner. Early trials are judged against few values — that is the
"asynchronous" trade: no trial waits for a full rung before a decision.

The trainer of a trial applies the rule itself, as each evaluation is written
(adamant.store.sweeps.judge_rungs): a trial that passes a rung and would finish before the
service's next look is still judged there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adamant.spec import JobSpec

LOSS_LIKE = ("loss", "rmse", "mae")


@dataclass(frozen=True)
class RungRule:
    metric: str
    mode: str  # max | min
    rungs: list[int]
    reduction_factor: int


def objective(monitor: tuple[str, str], metric: str | None, mode: str | None) -> tuple[str, str]:
    """The sweep's metric and direction: the base job's monitor unless the sweep names one."""
    if not metric:
        return monitor
    return metric, mode or ("min" if any(k in metric for k in LOSS_LIKE) else "max")


def rule_of(request: Mapping[str, Any]) -> RungRule | None:
    """The ASHA rule of a stored sweep request (as the service validated it), None without one."""
    stopping = request.get("early_stopping")
    if not stopping:
        return None
    base = JobSpec.model_validate(request["base"])
    metric, mode = objective(base.monitor, request.get("metric"), request.get("mode"))
    eta = int(stopping["reduction_factor"])
    return RungRule(metric, mode, rungs(int(stopping["grace_epochs"]), eta, base.training.epochs), eta)


def rungs(grace_epochs: int, reduction_factor: int, max_epochs: int) -> list[int]:
    out, epoch = [], grace_epochs
    while epoch < max_epochs:
        out.append(epoch)
        epoch *= reduction_factor
    return out


def value_at(evaluations: list[tuple[float, float]], rung: int) -> float | None:
    """The metric at the first evaluation at or after the rung's epoch (evaluations: (epoch, value))."""
    for epoch, value in sorted(evaluations):
        if epoch >= rung - 1e-9:
            return value
    return None


def promotable(value: float, recorded: list[float], reduction_factor: int, mode: str) -> bool:
    """Does `value` (already included in `recorded`) rank in the top ⌊n/η⌋ (at least 1)?"""
    ordered = sorted(recorded, reverse=(mode == "max"))
    keep = max(1, len(ordered) // reduction_factor)
    threshold = ordered[keep - 1]
    return value >= threshold if mode == "max" else value <= threshold
