"""A categorical column with hundreds of levels that carries signal: embedded, it is learnt;
collapsed to 50 levels and __other__, most of its signal is lost. Scoring reads the embedding too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adamant.monitoring.reference import REFERENCE_FILE
from adamant.scoring.scorer import load_scorer, score_frame
from adamant.spec import JobSpec
from worker.engine.reporting import RecordingReporter
from worker.engine.run import run_training
from worker.predict import load_trained_model, predict_frame

LEVELS = 400


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(7)
    n = 12_000
    offsets = rng.normal(0.0, 1.5, LEVELS)
    store = rng.integers(0, LEVELS, n)
    spend = rng.normal(0.0, 1.0, n)
    y = rng.random(n) < 1.0 / (1.0 + np.exp(-(offsets[store] + 0.5 * spend)))
    folder = tmp_path_factory.mktemp("data")
    frame = pd.DataFrame({"store": [f"s{i:03d}" for i in store], "spend": spend, "bought": np.where(y, "yes", "no")})
    frame.to_parquet(folder / "stores.parquet")
    return folder


def train(root: Path, run_dir: Path, high_cardinality: str, reporter: RecordingReporter | None = None) -> dict[str, float]:
    spec = JobSpec.model_validate({
        "task": "binary_classification",
        "dataset": {"ref": "file:stores.parquet", "target": "bought", "high_cardinality": high_cardinality},
        "model": {"type": "mlp", "hidden": [16]},
        "optimizer": {"lr": 0.02},
        "training": {"epochs": 6, "batch_size": 128, "seed": 0},
        "resources": {"device": "cpu"},
    })
    result = run_training(spec, run_dir, reporter or RecordingReporter(), file_roots=[root], resume=False)
    return result.best_metrics


def test_an_embedded_column_beats_its_50_level_collapse_and_scores_alike_in_torch_and_numpy(root: Path, tmp_path: Path) -> None:
    reporter = RecordingReporter()
    embedded = train(root, tmp_path / "embed", "embed", reporter)
    collapsed = train(root, tmp_path / "collapse", "collapse")
    print(f"val_auc embedded {embedded['val_auc']:.4f}, collapsed {collapsed['val_auc']:.4f}")
    assert embedded["val_auc"] > collapsed["val_auc"] + 0.03
    assert any(m.startswith(f"column 'store' is embedded: {LEVELS} levels") for m in reporter.messages)
    assert not [m for m in reporter.messages if "no reference profile" in m], reporter.messages
    reference = json.loads((tmp_path / "embed" / REFERENCE_FILE).read_text())
    assert reference["score"] is not None and reference["features"]["store"]["kind"] == "categorical"

    best = tmp_path / "embed" / "best"
    manifest = json.loads((best / "manifest.json").read_text())
    assert manifest["model_shape"]["embeddings"] == [[LEVELS + 1, 16]]
    assert manifest["sparse_embeddings"] is False  # a small table: dense Adam is cheaper (see the next test)
    rows = pd.DataFrame({"store": ["s001", "s399", "nowhere", None], "spend": [0.1, -1.0, 2.0, 0.0]})
    torch_scores = predict_frame(load_trained_model(best), rows)["score"].to_numpy()
    numpy_scores = score_frame(load_scorer(best), rows)["score"].to_numpy()
    np.testing.assert_allclose(numpy_scores, torch_scores, rtol=0, atol=1e-6)
    assert len(set(np.round(torch_scores[:2], 6))) == 2  # two known stores score apart


def test_a_table_of_a_million_parameters_or_more_is_updated_by_adams_lazy_rows() -> None:
    import torch

    from adamant.spec import MLPModel
    from worker.adam import build_optimizer
    from worker.models.tabular import LAZY_FROM_PARAMETERS, build_mlp

    big_rows = LAZY_FROM_PARAMETERS // 8 + 1
    model = build_mlp(MLPModel(hidden=[4]), 3, 1, embeddings=((big_rows, 8), (401, 8)), sparse=True)
    big, small = model.embeddings
    assert big.sparse and not small.sparse
    spec = JobSpec.model_validate({"task": "binary_classification", "dataset": {"ref": "file:x.csv", "target": "y"},
                                   "model": {"type": "mlp"}}).optimizer
    optimizer = build_optimizer(spec, model)
    before = big.weight.detach().clone()
    x, embedded = torch.zeros(2, 3), torch.tensor([[5, 1], [7, 2]])
    model(x, embedded).sum().backward()
    assert big.weight.grad.is_sparse
    optimizer.step()
    moved = (big.weight.detach() != before).any(dim=1).nonzero().flatten().tolist()
    assert moved == [5, 7]  # only the rows the batch looked up
