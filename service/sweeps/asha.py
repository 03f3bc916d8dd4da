"""Asynchronous successive halving as pure functions of the values trials reached at rungs.

Rungs sit at grace·η^k epochs (below the spec's last epoch). When a trial has been evaluated
at or after a rung, its value there joins that rung's record; it continues only if it is among
the top ⌊n/η⌋ of the n values recorded at the rung so far (at least the best one), the rule
of Optuna's SuccessiveHalvingPruner. Early trials are judged against few values — that is the
"asynchronous" trade: no trial waits for a full rung before a decision.
"""

from __future__ import annotations


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
