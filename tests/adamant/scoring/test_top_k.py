"""Batch top-k of an implicit-feedback model (adamant/ranking/top_k.py), from a real checkpoint:
a customer's bought items never come back, a customer training never saw gets the popular items
and is told so, the torch-free and torch scorers agree row for row, and item metadata is joined."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adamant.preparation import prepare_training_data
from adamant.scoring import load_scorer, score_frame
from adamant.scoring.table import score_table
from adamant.spec import JobSpec
from worker.engine.reporting import RecordingReporter
from worker.engine.setup import build_setup
from worker.engine.trainer import train
from worker.predict import load_trained_model, predict_frame

N_CUSTOMERS, N_PRODUCTS = 40, 25


def baskets() -> pd.DataFrame:
    """Customers buying 3 to 20 products each; product p is bought about (p + 1) times as often as product 0."""
    rng = np.random.default_rng(3)
    weights = np.arange(1, N_PRODUCTS + 1, dtype=float)
    rows = []
    for customer in range(N_CUSTOMERS):
        bought = rng.choice(N_PRODUCTS, int(rng.integers(3, 21)), replace=False, p=weights / weights.sum())
        rows += [{"customer": f"c{customer}", "product": int(p), "day": day} for day, p in enumerate(bought)]
    rows += [{"customer": "greedy", "product": p, "day": p} for p in range(N_PRODUCTS - 1)]  # all but the last
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = JobSpec.model_validate({
        "task": "recommendation",
        "dataset": {"ref": "file:b.csv", "user_column": "customer", "item_column": "product", "feedback": "implicit",
                    "timestamp_column": "day"},
        "model": {"type": "matrix_factorization", "embedding_dim": 8, "negatives": 16},
        "training": {"epochs": 2, "batch_size": 64},
    })
    frame = baskets()
    run = tmp_path_factory.mktemp("implicit-run")
    train(build_setup(spec, prepare_training_data(spec, frame), frame=frame), run, RecordingReporter())
    return run / "best"


def training_pairs(frame: pd.DataFrame) -> set[tuple[str, int]]:
    """What the model trained on: every interaction but each customer's latest (held out)."""
    latest = frame.sort_values(["customer", "day"]).groupby("customer").tail(1).index
    kept = frame.drop(index=latest[frame.loc[latest, "customer"].map(frame["customer"].value_counts()) > 1])
    return set(zip(kept["customer"], kept["product"], strict=True))


def test_bought_items_never_appear_in_anyones_top_k(checkpoint: Path) -> None:
    frame = baskets()
    customers = pd.DataFrame({"customer": sorted(frame["customer"].unique())})
    top = score_frame(load_scorer(checkpoint), customers, top_k=N_PRODUCTS)
    bought = training_pairs(frame)
    assert not {(c, int(p)) for c, p in zip(top["customer"], top["item"], strict=True)} & bought
    counts = top.groupby("customer").size()
    products = frame.groupby("customer")["product"].nunique()
    assert counts["greedy"] == 1 + (N_PRODUCTS - 1 - 23)  # it bought 24 of 25, 23 of them in training: 2 left
    for customer, count in counts.items():  # everything not bought in training, the held-out item included
        trained = sum(1 for c, _ in bought if c == customer)
        assert count == min(N_PRODUCTS - trained, len(frame["product"].unique())), (customer, products[customer])
    assert (top["source"] == "model").all()
    assert top.groupby("customer")["score"].apply(lambda s: s.is_monotonic_decreasing).all()


def test_a_customer_training_never_saw_gets_the_most_bought_items_labelled_popular(checkpoint: Path) -> None:
    frame = baskets()
    top = score_frame(load_scorer(checkpoint), pd.DataFrame({"customer": ["new-1", "c0"]}), top_k=5)
    cold = top[top["customer"] == "new-1"]
    trained = pd.DataFrame(sorted(training_pairs(frame)), columns=["customer", "product"])
    counts = trained["product"].value_counts()
    expected = sorted(counts.index, key=lambda p: (-counts[p], p))[:5]
    assert cold["item"].tolist() == expected and (cold["source"] == "popular").all()
    assert cold["score"].tolist() == [float(counts[p]) for p in expected]
    assert (top[top["customer"] == "c0"]["source"] == "model").all()


def test_the_torch_free_and_torch_scorers_give_the_same_rows(checkpoint: Path) -> None:
    customers = pd.DataFrame({"customer": ["c1", "c2", "greedy", "nobody", "c7"]})
    ours = score_frame(load_scorer(checkpoint), customers, top_k=7)
    reference = predict_frame(load_trained_model(checkpoint), customers, top_k=7)
    assert ours[["customer", "rank", "item", "source"]].equals(reference[["customer", "rank", "item", "source"]])
    assert np.allclose(ours["score"], reference["score"], atol=1e-5)
    pairs = score_frame(load_scorer(checkpoint), pd.DataFrame({"customer": ["c1"], "product": [3]}))
    assert list(pairs.columns) == ["row", "score"]  # a given item: its ranking score, not a rating


def test_a_scoring_table_joins_item_metadata_to_each_recommended_item(checkpoint: Path, tmp_path: Path) -> None:
    catalogue = pd.DataFrame({"product": [str(p) for p in range(N_PRODUCTS - 3)],  # text ids; 3 products missing
                              "title": [f"Product {p}" for p in range(N_PRODUCTS - 3)], "score": 1.0})
    summary = score_table(load_scorer(checkpoint), pd.DataFrame({"customer": ["c1", "c2"]}), tmp_path / "top.csv",
                          top_k=N_PRODUCTS, item_metadata=catalogue)
    out = pd.read_csv(tmp_path / "top.csv")
    assert summary["columns"] == ["customer", "rank", "item", "score", "source", "title", "item_score"]
    known = out["item"] < N_PRODUCTS - 3
    assert (out.loc[known, "title"] == "Product " + out.loc[known, "item"].astype(str)).all()
    assert out.loc[~known, "title"].isna().all() and (~known).any()
