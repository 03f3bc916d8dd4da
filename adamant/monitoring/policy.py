"""A registered model's monitoring policy, and its two decisions: retrain? promote?

After each scheduled scoring, the run's findings (the scoring job's drift verdict and, where the
table carries labels, its evaluation) decide whether to retrain: the verdict reaches the policy's
`retrain_on` level, or the metric fell more than `max_metric_drop` below the champion's own
validation number. A retrained challenger is then scored with the champion on the challenger's
validation rows (the same rows of the same table, neither model trained on them) and promoted
only if it beats the champion by `margin` on the task's metric (AUC or accuracy: higher is
better; RMSE: lower); with `approval: manual` a winning challenger waits for a person.
Pure functions: the service's loop (service/model_monitor.py) acts on what they decide.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

VERDICT_LEVELS = {"stable": 0, "monitor": 1, "retrain recommended": 2}
RETRAIN_ON = ("retrain recommended", "monitor", "never")
TASKS = ("binary_classification", "multiclass_classification", "regression")  # a metric on labelled rows


@dataclass(frozen=True)
class Policy:
    alias: str = "production"  # the champion: the alias the policy watches and promotes
    retrain_on: str = "retrain recommended"  # the drift verdict that triggers retraining, or "never"
    max_metric_drop: float | None = None  # labelled rows: retrain when the metric is this much worse
    retrain_dataset: dict[str, Any] | None = None  # the newest data to retrain on; default: the scored table
    margin: float = 0.0  # how much better the challenger must be to be promoted
    approval: str = "auto"  # or "manual": a winning challenger waits for POST .../approve

    @classmethod
    def from_dict(cls, document: dict[str, Any] | None) -> Policy:
        return cls(**(document or {}))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    metric: str
    higher_is_better: bool
    champion: float
    challenger: float
    improvement: float  # challenger's advantage, positive when it is better
    margin: float
    rows: int
    challenger_wins: bool


def task_metric(task: str, evaluation: dict[str, Any]) -> tuple[str, bool]:
    """The metric a task's models are compared on, and whether higher is better (a rating
    recommender's RMSE on labelled rows; an implicit one has no labels to score, so none)."""
    if task in ("regression", "recommendation"):
        return "rmse", False
    return ("auc", True) if evaluation.get("auc") is not None else ("accuracy", True)


def retrain_reasons(policy: Policy, task: str, drift: dict[str, Any] | None, evaluation: dict[str, Any] | None,
                    champion_metrics: dict[str, Any]) -> list[str]:
    """Why this scoring calls for a retraining ([] when it does not)."""
    reasons = []
    if drift is not None and policy.retrain_on != "never":
        if VERDICT_LEVELS.get(drift["verdict"], 0) >= VERDICT_LEVELS[policy.retrain_on]:
            top = f"; largest: {drift['max_feature']} PSI {drift['max_feature_psi']:.3f}" if drift.get("max_feature") else ""
            reasons.append(f"drift verdict {drift['verdict']!r} reaches the policy's {policy.retrain_on!r}{top}")
    if evaluation and policy.max_metric_drop is not None:
        metric, higher = task_metric(task, evaluation)
        now, then = evaluation.get(metric), champion_metrics.get(f"val_{metric}")
        if now is not None and then is not None:
            drop = (then - now) if higher else (now - then)
            if drop > policy.max_metric_drop:
                reasons.append(f"{metric} {now:.4f} on labelled rows vs {then:.4f} at validation: "
                               f"{drop:.4f} worse, more than {policy.max_metric_drop}")
    return reasons


def compare(policy: Policy, task: str, champion: dict[str, Any], challenger: dict[str, Any]) -> Comparison:
    """Champion and challenger evaluated on the same rows (two scoring jobs' evaluations)."""
    metric, higher = task_metric(task, challenger)
    a, b = champion.get(metric), challenger.get(metric)
    if a is None or b is None:
        raise ValueError(f"no {metric} in both evaluations: the held-out rows need labels")
    improvement = (b - a) if higher else (a - b)
    return Comparison(metric=metric, higher_is_better=higher, champion=float(a), challenger=float(b),
                      improvement=float(improvement), margin=policy.margin,
                      rows=int(challenger.get("labelled_rows", 0)), challenger_wins=improvement > policy.margin)
