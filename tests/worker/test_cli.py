"""`adamant train` and `adamant predict` as a user runs them: real processes, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ADAMANT = [sys.executable, "-m", "client.cli"]


def adamant(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ADAMANT, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def workdir(tmp_path: Path, customers: pd.DataFrame) -> Path:
    customers.to_csv(tmp_path / "customers.csv", index=False)
    spec = {
        "task": "binary_classification",
        "dataset": {"ref": f"file:{tmp_path / 'customers.csv'}", "target": "converted", "id_column": "customer_id"},
        "model": {"type": "mlp", "hidden": [8]},
        "training": {"epochs": 3, "batch_size": 128},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "spec.yaml").write_text("task: regression\ndataset: {ref: 'file:x.csv', target: spend}\nmodel: {type: mlp}\noptimizer: {lr: -1, beta2: 1.0}\n")
    return tmp_path


def test_train_writes_metrics_and_checkpoints_then_predict_scores_every_row(workdir: Path) -> None:
    trained = adamant("train", "spec.json", "--out", "run", cwd=workdir)
    assert trained.returncode == 0, trained.stderr
    assert "val_auc" in trained.stdout

    points = [json.loads(line) for line in (workdir / "run" / "metrics.jsonl").read_text().splitlines()]
    assert {"loss", "val_auc", "lr"} <= {p["name"] for p in points}
    assert (workdir / "run" / "best" / "manifest.json").exists()

    rows = pd.read_csv(workdir / "customers.csv").head(50).drop(columns=["converted"])
    rows.to_csv(workdir / "rows.csv", index=False)
    scored = adamant("predict", "run/best", "rows.csv", "--output", "scores.csv", cwd=workdir)
    assert scored.returncode == 0, scored.stderr
    scores = pd.read_csv(workdir / "scores.csv")
    assert list(scores["customer_id"]) == list(rows["customer_id"])
    assert scores["score"].between(0, 1).all()


def test_a_bad_spec_exits_2_naming_each_field(workdir: Path) -> None:
    result = adamant("train", "spec.yaml", "--out", "run", cwd=workdir)
    assert result.returncode == 2
    assert "optimizer.lr" in result.stderr and "optimizer.beta2" in result.stderr


def test_a_bad_dataset_exits_1_naming_the_column(workdir: Path) -> None:
    spec = json.loads((workdir / "spec.json").read_text())
    spec["dataset"]["target"] = "convertd"
    (workdir / "typo.json").write_text(json.dumps(spec))
    result = adamant("train", "typo.json", "--out", "run", cwd=workdir)
    assert result.returncode == 1
    assert "convertd" in result.stderr and "converted" in result.stderr
