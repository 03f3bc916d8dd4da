"""The service's torch-free size estimate is the worker's real model, and the worker refuses a
model past the limits as the user's error, once.

Issue 10, item 7: the dry run said valid for 8.2B parameters and the job died in the worker as
"a bug in Adamant". adamant/model_size.py sizes models without torch; here it is held to the
parameter count of the torch modules worker/models builds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from adamant.exceptions import ModelTooLarge
from adamant.model_size import estimate, prepared_shape
from adamant.preparation import prepare_training_data
from adamant.spec import JobSpec
from worker.engine.reporting import RecordingReporter
from worker.engine.run import run_training
from worker.engine.setup import build_setup
from worker.engine.trainer import train
from worker.models import count_parameters


def ratings(users: int = 70, items: int = 45, rows: int = 900) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"user": rng.integers(0, users, rows), "item": rng.integers(0, items, rows),
                         "rating": rng.integers(1, 6, rows).astype(float)})


TABULAR = {"ref": "file:customers.csv", "target": "converted", "id_column": "customer_id"}
MODELS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("binary_classification", TABULAR, {"type": "logistic"}),
    ("binary_classification", TABULAR, {"type": "mlp", "hidden": [32, 16]}),
    ("binary_classification", TABULAR, {"type": "mlp", "hidden": [24, 12, 6], "batch_norm": True, "dropout": 0.2}),
    ("multiclass_classification", {**TABULAR, "target": "channel"}, {"type": "logistic"}),
    ("multiclass_classification", {**TABULAR, "target": "channel"}, {"type": "mlp", "hidden": [16]}),
    ("regression", {**TABULAR, "target": "spend"}, {"type": "mlp", "hidden": [8, 8]}),
    ("segmentation", {"ref": "file:customers.csv", "id_column": "customer_id"}, {"type": "autoencoder", "hidden": [16, 8], "latent_dim": 3}),
]
RECOMMENDERS: list[dict[str, Any]] = [
    {"type": "matrix_factorization", "embedding_dim": 8},
    {"type": "matrix_factorization", "embedding_dim": 8, "biases": False},
    {"type": "matrix_factorization", "embedding_dim": 6, "ncf_hidden": [16, 8]},
]


def job(task: str, dataset: dict[str, Any], model: dict[str, Any], **training: Any) -> JobSpec:
    return JobSpec.model_validate({"task": task, "dataset": dataset, "model": model, "training": {"epochs": 1, **training}})


@pytest.mark.parametrize(("task", "dataset", "model"), MODELS, ids=[f"{t}-{m['type']}-{i}" for i, (t, _, m) in enumerate(MODELS)])
def test_the_estimate_counts_exactly_the_parameters_of_the_built_tabular_model(
    task: str, dataset: dict[str, Any], model: dict[str, Any], customers: pd.DataFrame
) -> None:
    spec = job(task, dataset, model)
    data = prepare_training_data(spec, customers)
    built = build_setup(spec, data, frame=customers).model
    assert estimate(spec, prepared_shape(spec, data)).parameters == count_parameters(built)


@pytest.mark.parametrize("model", RECOMMENDERS, ids=["dot", "no-biases", "ncf"])
def test_the_estimate_counts_exactly_the_parameters_of_the_built_recommender(model: dict[str, Any]) -> None:
    frame = ratings()
    spec = job("recommendation", {"ref": "file:r.csv", "target": "rating", "user_column": "user", "item_column": "item"}, model)
    data = prepare_training_data(spec, frame)
    built = build_setup(spec, data).model
    assert estimate(spec, prepared_shape(spec, data)).parameters == count_parameters(built)


def test_the_checkpoint_estimate_is_the_size_of_a_real_checkpoint_within_a_few_percent(customers: pd.DataFrame, tmp_path: Path) -> None:
    spec = job("binary_classification", TABULAR, {"type": "mlp", "hidden": [256, 128]})
    data = prepare_training_data(spec, customers)
    predicted = estimate(spec, prepared_shape(spec, data)).checkpoint_bytes
    train(build_setup(spec, data, frame=customers), tmp_path, RecordingReporter())
    written = sum(f.stat().st_size for f in (tmp_path / "best").rglob("*") if f.is_file())
    assert predicted == pytest.approx(written, rel=0.15)


def test_the_worker_refuses_a_model_past_max_parameters_before_building_it(customers: pd.DataFrame, tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text(customers.to_csv(index=False))
    spec = job("binary_classification", TABULAR, {"type": "mlp", "hidden": [512, 512]})
    with pytest.raises(ModelTooLarge) as refused:
        run_training(spec, tmp_path / "run", file_roots=[tmp_path], max_parameters=10_000, max_memory_bytes=2**40)
    assert refused.value.fields[0] == "model.hidden" and refused.value.estimate["parameters"] > 260_000
    assert refused.value.to_dict()["type"] == "model_too_large"
    assert not (tmp_path / "run" / "checkpoints").exists()
