"""Every metric name a spec may monitor (adamant.metric_names) is one a run of that task reports
at each evaluation, and monitoring it picks a best checkpoint.

Issue 10, item 16: `training.monitor: "val_acu"` was accepted and the run ended with no best
checkpoint. The spec now checks the name against adamant.metric_names at submit; this test
keeps that table honest against what the worker really emits.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from adamant.metric_names import METRICS_BY_TASK, better_direction
from adamant.preparation import prepare_training_data
from adamant.spec import DEFAULT_MONITOR, IMPLICIT_MONITOR, JobSpec
from worker.engine.reporting import RecordingReporter
from worker.engine.setup import build_setup
from worker.engine.trainer import train


def ratings(users: int = 60, items: int = 200, rows: int = 800, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "user": rng.integers(0, users, rows), "item": rng.integers(0, items, rows), "rating": rng.integers(1, 6, rows).astype(float),
    })


def tiny_run(task: str, customers: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
    """(spec, table) of a two-epoch run of `task` on a few hundred rows."""
    frame = customers.head(600)
    dataset: dict[str, Any] = {"ref": "file:t.csv", "id_column": "customer_id"}
    model: dict[str, Any] = {"type": "mlp", "hidden": [8]}
    if task == "binary_classification":
        dataset["target"] = "converted"
    elif task == "multiclass_classification":
        dataset["target"] = "channel"
    elif task == "regression":
        dataset["target"] = "spend"
    elif task == "recommendation":
        dataset = {"ref": "file:r.csv", "target": "rating", "user_column": "user", "item_column": "item"}
        model = {"type": "matrix_factorization", "embedding_dim": 4}
        frame = ratings()
    elif task == "recommendation_implicit":  # the same table as purchases: its rows are interactions
        dataset = {"ref": "file:r.csv", "user_column": "user", "item_column": "item", "feedback": "implicit", "drop": ["rating"]}
        model = {"type": "matrix_factorization", "embedding_dim": 4, "negatives": 8}
        frame = ratings()
        task = "recommendation"
    else:
        model = {"type": "autoencoder", "hidden": [8], "latent_dim": 2, "segments": 3}
    spec = {"task": task, "dataset": dataset, "model": model, "training": {"epochs": 2, "batch_size": 128}}
    return spec, frame


@pytest.mark.parametrize("task", sorted(METRICS_BY_TASK))
def test_each_listed_metric_is_reported_at_every_evaluation_and_picks_a_best_checkpoint(
    task: str, customers: pd.DataFrame, tmp_path: Path
) -> None:
    listed = set(METRICS_BY_TASK[task])
    for index, metric in enumerate(sorted(listed)):
        spec_dict, frame = tiny_run(task, customers)
        spec_dict["training"]["monitor"] = metric
        spec = JobSpec.model_validate(spec_dict)
        log = RecordingReporter()

        result = train(build_setup(spec, prepare_training_data(spec, frame), frame=frame), tmp_path / str(index), log)

        by_step: dict[int, set[str]] = defaultdict(set)
        for point in log.points:
            by_step[point.step].add(point.name)
        evaluations = [names for names in by_step.values() if "val_loss" in names]
        assert len(evaluations) == 2, "one evaluation per epoch"
        for names in evaluations:
            missing = listed - names
            assert not missing, f"{task} lists {sorted(missing)} but an evaluation did not report them"
            unlisted = {n for n in names if n.startswith("val_")} - listed
            assert not unlisted, f"{task} reports {sorted(unlisted)} at every evaluation: list them in adamant.metric_names"
        assert metric in result.best_metrics, f"monitoring {metric} kept no best checkpoint"
        assert any(info.is_best for info in log.checkpoints)


def test_each_tasks_default_monitor_is_a_listed_metric_with_its_direction() -> None:
    for task, (metric, mode) in DEFAULT_MONITOR.items():
        assert better_direction(task, metric) == mode
    metric, mode = IMPLICIT_MONITOR
    assert better_direction("recommendation", metric, "implicit") == mode
