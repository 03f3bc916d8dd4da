"""The metrics each task reports at every evaluation, and which way is better: the names a spec
may monitor. Torch-free: the spec validates `training.monitor` against this table at submit,
and tests/worker/engine/test_metric_names.py holds the worker's evaluations to it, so a name
listed here is a name a run really reports (and a misspelt monitor is a 422, not a run that
ends without a best checkpoint).
"""

from __future__ import annotations

from typing import Literal

Mode = Literal["min", "max"]

_TRAIN: dict[str, Mode] = {"train_loss": "min"}

METRICS_BY_TASK: dict[str, dict[str, Mode]] = {
    "binary_classification": {
        "val_loss": "min", "val_auc": "max", "val_log_loss": "min", "val_accuracy": "max", "val_lift_10": "max", **_TRAIN,
    },
    "multiclass_classification": {"val_loss": "min", "val_accuracy": "max", "val_log_loss": "min", **_TRAIN},
    "regression": {"val_loss": "min", "val_rmse": "min", "val_mae": "min", **_TRAIN},
    # HR/NDCG@10 rank each validation user's best item among items they never rated: a user who
    # rated nearly the whole catalogue has none to rank against and is left out of them.
    "recommendation": {
        "val_loss": "min", "val_rmse": "min", "val_mae": "min", "val_hr_10": "max", "val_ndcg_10": "max", **_TRAIN,
    },
    # Implicit feedback (dataset.feedback "implicit"): each user's held-out items ranked over the full
    # catalogue, their training items excluded (adamant/ranking/evaluation.py); "sampled" ones rank
    # the held-out item against 100 sampled unseen items (He et al. 2017), labelled as such.
    "recommendation_implicit": {
        "val_loss": "min", "val_hr_10": "max", "val_ndcg_10": "max", "val_recall_20": "max", "val_coverage_10": "max",
        "val_popularity_bias_10": "min", "val_sampled_hr_10": "max", "val_sampled_ndcg_10": "max", **_TRAIN,
    },
    # val_silhouette is computed once, at the end (k-means on the final latent space): not monitorable.
    "segmentation": {"val_loss": "min", **_TRAIN},
}


def metric_table(task: str, feedback: str = "explicit") -> dict[str, Mode]:
    """The metrics a job reports: by task, and for recommendation by its dataset.feedback."""
    if task == "recommendation" and feedback == "implicit":
        return METRICS_BY_TASK["recommendation_implicit"]
    return METRICS_BY_TASK[task]


def monitorable(task: str, feedback: str = "explicit") -> list[str]:
    """The names `training.monitor` may take for `task`, sorted."""
    return sorted(metric_table(task, feedback))


def better_direction(task: str, metric: str, feedback: str = "explicit") -> Mode:
    """Whether a lower or a higher value of `metric` is better."""
    return metric_table(task, feedback)[metric]
