"""The torch-free scorer gives worker/predict.py's answers on real checkpoints of every task."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from adamant.datasets import get_builtin
from adamant.exceptions import CheckpointError, DatasetError
from adamant.preparation import prepare_training_data
from adamant.scoring import load_scorer, score_frame, score_rows
from adamant.scoring.scorer import model_outputs
from adamant.spec import JobSpec
from tests.conftest import synthetic_customers
from worker import predict
from worker.engine.reporting import RecordingReporter
from worker.engine.setup import build_setup
from worker.engine.trainer import train
from worker.predict import load_trained_model, predict_frame

REPO = Path(__file__).resolve().parents[3]
TOLERANCE = 1e-5
# Regression predictions are in the target's units (spend: hundreds), where float32's own
# resolution is already ~1e-5; there the bound is relative.
RELATIVE_TOLERANCE = 1e-6


def customers(rows: int = 600) -> pd.DataFrame:
    return synthetic_customers(rows, seed=1)


def ratings(users: int = 50, items: int = 30, rows: int = 1200) -> pd.DataFrame:
    """Ratings 1..5 from a rank-3 taste model; item ids are strings, user ids numbers."""
    rng = np.random.default_rng(0)
    taste, traits = rng.normal(size=(users, 3)), rng.normal(size=(items, 3))
    user, item = rng.integers(0, users, rows), rng.integers(0, items, rows)
    rating = np.clip(np.round(3 + (taste[user] * traits[item]).sum(1) + rng.normal(0, 0.3, rows)), 1, 5)
    return pd.DataFrame({"user": user + 1, "item": [f"sku-{i:03d}" for i in item], "rating": rating})


def rfm() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    centres = np.array([[1, 10, 20.0], [30, 2, 200.0], [300, 1, 15.0]])
    frame = pd.DataFrame(
        np.vstack([c * rng.lognormal(0, 0.1, (150, 3)) for c in centres]), columns=["recency", "frequency", "monetary"]
    )
    return frame.assign(customer_id=np.arange(len(frame)))


def with_odd_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows plus three a form might send: a missing age, an unseen channel, a negative spend."""
    odd = frame.head(3).copy()
    odd["age"] = odd["age"].astype(float)
    odd.iloc[0, odd.columns.get_loc("age")] = np.nan
    if "channel" in odd.columns:
        odd.iloc[1, odd.columns.get_loc("channel")] = "sms"
    if "spend" in odd.columns:
        odd.iloc[2, odd.columns.get_loc("spend")] = -5.0
    return pd.concat([frame, odd], ignore_index=True)


def tabular_inputs(target: str) -> dict[str, pd.DataFrame]:
    rows = with_odd_rows(customers().drop(columns=[target]))
    return {"rows with ids": rows, "rows without ids": rows.drop(columns=["customer_id"]).head(40)}


def recommendation_inputs() -> dict[str, pd.DataFrame]:
    pairs = ratings().drop(columns=["rating"]).head(300)
    cold = pd.DataFrame({"user": [999, 1, 999], "item": ["sku-001", "sku-999", "sku-999"]})
    return {
        "user-item pairs": pd.concat([pairs, cold], ignore_index=True),
        "top-k per user": pd.DataFrame({"user": [3, 1, 999, 3]}),  # 999: unknown, scored as user 0
    }


@dataclass(frozen=True)
class Case:
    spec: dict[str, Any]
    table: Callable[[], pd.DataFrame]
    inputs: Callable[[], dict[str, pd.DataFrame]]


def tabular(task: str, target: str, model: dict[str, Any]) -> Case:
    spec = {
        "task": task,
        "dataset": {"ref": "file:customers.csv", "target": target, "id_column": "customer_id"},
        "model": model,
        "optimizer": {"lr": 0.01},
        "training": {"epochs": 2, "batch_size": 64, "seed": 1},
    }
    return Case(spec, customers, lambda: tabular_inputs(target))


def recommendation(**model: Any) -> Case:
    spec = {
        "task": "recommendation",
        "dataset": {"ref": "file:ratings.csv", "target": "rating", "user_column": "user", "item_column": "item"},
        "model": {"type": "matrix_factorization", "embedding_dim": 8, **model},
        "optimizer": {"lr": 0.02},
        "training": {"epochs": 2, "batch_size": 128},
    }
    return Case(spec, ratings, recommendation_inputs)


CASES = {
    "binary-logistic": tabular("binary_classification", "converted", {"type": "logistic"}),
    "binary-mlp": tabular(
        "binary_classification",
        "converted",
        {"type": "mlp", "hidden": [16, 8], "activation": "gelu", "batch_norm": True, "dropout": 0.2},
    ),
    "multiclass-mlp": tabular(
        "multiclass_classification", "channel", {"type": "mlp", "hidden": [16], "activation": "silu", "dropout": 0.1}
    ),
    "regression-mlp": tabular(
        "regression", "spend", {"type": "mlp", "hidden": [16, 8], "activation": "tanh", "batch_norm": True}
    ),
    "recommendation-mf": recommendation(),
    "recommendation-mf-no-biases": recommendation(biases=False),
    "recommendation-ncf": recommendation(ncf_hidden=[16, 8], dropout=0.1),
    "segmentation-autoencoder": Case(
        {
            "task": "segmentation",
            "dataset": {"ref": "file:rfm.csv", "id_column": "customer_id"},
            "model": {"type": "autoencoder", "hidden": [8], "latent_dim": 2, "segments": 3, "activation": "leaky_relu"},
            "optimizer": {"lr": 0.01},
            "training": {"epochs": 3, "batch_size": 64},
        },
        rfm,
        lambda: {"rows": rfm()},
    ),
}


def train_checkpoint(spec: dict[str, Any], frame: pd.DataFrame, run_dir: Path) -> Path:
    job = JobSpec.model_validate(spec)
    setup = build_setup(job, prepare_training_data(job, frame), frame=frame)
    train(setup, run_dir, RecordingReporter())
    return run_dir / "best"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The best checkpoint of a case, trained once per module on first use."""
    trained: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in trained:
            case = CASES[name]
            trained[name] = train_checkpoint(case.spec, case.table(), tmp_path_factory.mktemp(name))
        return trained[name]

    return get


@pytest.mark.parametrize("name", CASES)
def test_scores_equal_worker_predict(name: str, checkpoint: Callable[[str], Path]) -> None:
    directory = checkpoint(name)
    scorer, trained = load_scorer(directory), load_trained_model(directory)

    for what, frame in CASES[name].inputs().items():
        ours = score_frame(scorer, frame, top_k=5)
        theirs = predict_frame(trained, frame, top_k=5)

        pd.testing.assert_frame_equal(
            ours, theirs, check_exact=False, rtol=RELATIVE_TOLERANCE, atol=TOLERANCE, obj=f"{name} / {what}"
        )
        floats = [c for c in theirs.columns if pd.api.types.is_float_dtype(theirs[c])]
        worst = max((np.abs(ours[c] - theirs[c]).max() for c in floats), default=0.0)
        print(f"{name} / {what}: {len(ours)} rows, max |numpy - torch| of outputs {worst:.1e}", end="")
        if what != "top-k per user":
            rows = scorer.preprocessing.transform(frame)
            raw = np.abs(model_outputs(scorer, rows) - predict.model_outputs(trained, rows)).max()
            print(f", of raw model outputs {raw:.1e}", end="")
            assert raw <= TOLERANCE
        print()


def test_segments_are_identical_and_use_every_cluster(checkpoint: Callable[[str], Path]) -> None:
    directory = checkpoint("segmentation-autoencoder")
    frame = rfm()
    ours = score_frame(load_scorer(directory), frame)["segment"].to_numpy()
    np.testing.assert_array_equal(ours, predict_frame(load_trained_model(directory), frame)["segment"].to_numpy())
    assert ours.dtype == np.int64 and set(ours) == {0, 1, 2}


def test_scorer_exposes_task_spec_manifest_and_preprocessing(checkpoint: Callable[[str], Path]) -> None:
    scorer = load_scorer(checkpoint("binary-mlp"))
    assert scorer.task == "binary_classification"
    assert scorer.spec.model.type == "mlp" and scorer.spec.model.activation == "gelu"
    assert scorer.manifest["step"] > 0 and "val_auc" in scorer.manifest["metrics"]
    assert scorer.preprocessing.id_column == "customer_id"
    assert scorer.preprocessing.input_columns == ["age", "spend", "channel"]


def test_json_rows_score_like_the_frame_they_came_from(checkpoint: Callable[[str], Path]) -> None:
    scorer = load_scorer(checkpoint("multiclass-mlp"))
    frame = customers().drop(columns=["channel"]).head(20)
    rows = json.loads(frame.to_json(orient="records"))  # what the HTTP body carries

    pd.testing.assert_frame_equal(score_rows(scorer, rows), score_frame(scorer, frame), check_exact=False, atol=TOLERANCE)


def test_a_json_row_without_a_key_is_a_missing_cell(checkpoint: Callable[[str], Path]) -> None:
    scorer = load_scorer(checkpoint("binary-mlp"))
    rows = [{"customer_id": "a", "age": 40, "spend": 120.0, "channel": "web"}, {"customer_id": "b", "spend": 80.0, "channel": "email"}]

    scored = score_rows(scorer, rows)

    assert list(scored.columns) == ["customer_id", "score", "label"] and list(scored["customer_id"]) == ["a", "b"]
    expected = predict_frame(load_trained_model(checkpoint("binary-mlp")), pd.DataFrame(rows))
    pd.testing.assert_frame_equal(scored, expected, check_exact=False, atol=TOLERANCE)


def test_rows_missing_model_columns_are_refused_naming_them(checkpoint: Callable[[str], Path]) -> None:
    scorer = load_scorer(checkpoint("binary-mlp"))

    with pytest.raises(DatasetError, match="age, channel") as missing:
        score_frame(scorer, customers().drop(columns=["age", "channel"]))
    assert missing.value.column == "age"
    with pytest.raises(DatasetError, match="age, spend, channel"):
        score_rows(scorer, [])


def test_no_rows_score_to_no_rows_with_the_output_columns(checkpoint: Callable[[str], Path]) -> None:
    scored = score_frame(load_scorer(checkpoint("multiclass-mlp")), customers().drop(columns=["channel"]).head(0))
    assert scored.empty
    assert list(scored.columns) == ["customer_id", "label", "prob_email", "prob_phone", "prob_web"]


def test_recommendation_rows_without_the_user_column_are_refused(checkpoint: Callable[[str], Path]) -> None:
    scorer = load_scorer(checkpoint("recommendation-mf"))
    with pytest.raises(DatasetError, match="user column 'user'") as missing:
        score_frame(scorer, pd.DataFrame({"customer": [1, 2]}))
    assert missing.value.column == "user"


def copy_of(directory: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(directory, tmp_path / "copy"))


def test_a_tampered_model_file_is_refused(checkpoint: Callable[[str], Path], tmp_path: Path) -> None:
    directory = copy_of(checkpoint("binary-mlp"), tmp_path)
    weights = directory / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one bit of the last weight
    weights.write_bytes(bytes(data))

    with pytest.raises(CheckpointError, match="model.safetensors sha256"):
        load_scorer(directory)


def test_a_checkpoint_missing_a_file_or_its_manifest_is_refused(checkpoint: Callable[[str], Path], tmp_path: Path) -> None:
    directory = copy_of(checkpoint("binary-logistic"), tmp_path)
    (directory / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing model.safetensors"):
        load_scorer(directory)
    (directory / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="missing manifest.json"):
        load_scorer(directory)


NO_TORCH_SCRIPT = """
import json, sys
from pathlib import Path
from adamant.scoring import load_scorer, score_rows
scored = score_rows(load_scorer(Path(sys.argv[1])), json.loads(sys.argv[2]))
assert "torch" not in sys.modules, "scoring imported torch"
print(scored.to_json(orient="records"))
"""


def test_scoring_never_imports_torch(checkpoint: Callable[[str], Path]) -> None:
    directory = checkpoint("binary-mlp")  # gelu and batch norm: the most machinery
    rows = [{"customer_id": "a", "age": 40, "spend": 120.0, "channel": "web"}]

    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH_SCRIPT, str(directory), json.dumps(rows)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    (scored,) = json.loads(done.stdout)
    assert scored["customer_id"] == "a" and 0.0 < scored["score"] < 1.0 and scored["label"] in ("yes", "no")


def test_scoring_a_thousand_bank_marketing_rows_takes_milliseconds(tmp_path: Path) -> None:
    bank = get_builtin("bank-marketing").load()
    spec = {
        "task": "binary_classification",
        "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
        "model": {"type": "mlp", "hidden": [128, 64], "activation": "relu", "dropout": 0.3, "batch_norm": True},
        "training": {"epochs": 1, "batch_size": 256},
    }
    directory = train_checkpoint(spec, bank.sample(4000, random_state=0), tmp_path)
    scorer = load_scorer(directory)
    rows = bank.sample(1000, random_state=1).drop(columns=["y"])

    timings = []
    for _ in range(6):
        start = time.perf_counter()
        scored = score_frame(scorer, rows)
        timings.append(time.perf_counter() - start)
    best = min(timings[1:])  # the first call also warms caches

    print(f"scoring 1,000 bank-marketing rows (MLP 128-64, batch norm): best {best * 1e3:.1f} ms of {len(timings) - 1}")
    assert len(scored) == 1000
    assert best < 0.05
