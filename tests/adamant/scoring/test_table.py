"""score_table: a whole table through a scorer into one CSV or Parquet file, atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adamant.checkpoint_files import sha256_of
from adamant.exceptions import DatasetError
from adamant.monitoring.profile import reference_profile
from adamant.preparation import prepare_training_data
from adamant.scoring import Scorer, score_frame, table
from adamant.scoring.runtime import build_model
from adamant.scoring.table import score_table
from adamant.spec import JobSpec
from support.data import synthetic_customers


def logistic_scorer(id_column: str | None = "customer_id") -> tuple[Scorer, pd.DataFrame]:
    """A scorer with fixed weights (no training needed: the output's shape is what is tested)."""
    frame = synthetic_customers(3000, seed=0)
    dataset = {"ref": "builtin:x", "target": "converted", **({"id_column": id_column} if id_column else {})}
    if id_column is None:
        dataset["drop"] = ["customer_id"]
    spec = JobSpec.model_validate({"task": "binary_classification", "dataset": dataset, "model": {"type": "logistic"}})
    preprocessing = prepare_training_data(spec, frame).preprocessing
    width = len(preprocessing.feature_names)
    weights = {"body.weight": np.linspace(-1, 1, width, dtype=np.float32)[None, :], "body.bias": np.zeros(1, np.float32)}
    model = build_model(spec.model, {"n_features": width, "n_outputs": 1}, weights)
    return Scorer(spec, preprocessing, {"step": 1}, model), frame


@pytest.mark.parametrize("chunk_rows", [50_000, 7, 1000])
def test_one_row_per_input_row_in_order_with_ids(tmp_path: Path, chunk_rows: int) -> None:
    scorer, frame = logistic_scorer()
    table = synthetic_customers(2500, seed=5).sample(frac=1.0, random_state=0)  # ids out of order
    out = tmp_path / "scores.csv"
    summary = score_table(scorer, table, out, chunk_rows=chunk_rows)
    written = pd.read_csv(out)
    assert list(written.columns) == ["customer_id", "score", "label"]
    assert written["customer_id"].tolist() == table["customer_id"].tolist()
    expected = score_frame(scorer, table)
    np.testing.assert_allclose(written["score"].to_numpy(), expected["score"].to_numpy(), atol=1e-6)  # float32 sums differ by batch shape
    assert summary["rows_scored"] == summary["output_rows"] == len(table)
    assert summary["sha256"] == sha256_of(out) and summary["bytes"] == out.stat().st_size


def test_row_numbers_count_from_the_top_of_the_table_across_chunks(tmp_path: Path) -> None:
    scorer, _ = logistic_scorer(id_column=None)
    table = synthetic_customers(100, seed=5).drop(columns=["customer_id"])
    score_table(scorer, table, tmp_path / "scores.csv", chunk_rows=30)
    assert pd.read_csv(tmp_path / "scores.csv")["row"].tolist() == list(range(1, 101))


def test_a_requested_id_column_replaces_the_row_number(tmp_path: Path) -> None:
    scorer, _ = logistic_scorer(id_column=None)
    table = synthetic_customers(100, seed=5).rename(columns={"customer_id": "contact"})
    score_table(scorer, table, tmp_path / "scores.csv", id_column="contact", chunk_rows=30)
    written = pd.read_csv(tmp_path / "scores.csv")
    assert list(written.columns) == ["contact", "score", "label"]
    assert written["contact"].tolist() == table["contact"].tolist()
    with pytest.raises(DatasetError) as error:
        score_table(scorer, table, tmp_path / "other.csv", id_column="nope")
    assert error.value.column == "nope" and not (tmp_path / "other.csv").exists()


def test_parquet_output_matches_csv(tmp_path: Path) -> None:
    scorer, _ = logistic_scorer()
    table = synthetic_customers(1200, seed=6)
    score_table(scorer, table, tmp_path / "a.csv", chunk_rows=500)
    score_table(scorer, table, tmp_path / "a.parquet", fmt="parquet", chunk_rows=500)
    csv, parquet = pd.read_csv(tmp_path / "a.csv"), pd.read_parquet(tmp_path / "a.parquet")
    assert parquet["customer_id"].tolist() == csv["customer_id"].tolist()
    np.testing.assert_allclose(parquet["score"].to_numpy(), csv["score"].to_numpy(), rtol=1e-12)


def test_the_file_appears_by_an_atomic_rename_and_a_failure_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scorer, _ = logistic_scorer()
    out = tmp_path / "scores.csv"
    out.write_text("the previous file\n")
    renames: list[tuple[str, str]] = []
    real_replace = os.replace

    def recording_replace(source: str | os.PathLike, target: str | os.PathLike) -> None:
        renames.append((Path(source).name, Path(target).name))
        real_replace(source, target)

    monkeypatch.setattr(table.os, "replace", recording_replace)
    seen: list[int] = []

    def stop_after_first_chunk(done: int) -> None:
        seen.append(done)
        assert out.read_text() == "the previous file\n"  # nothing visible while writing
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        score_table(scorer, synthetic_customers(300, seed=1), out, chunk_rows=100, on_chunk=stop_after_first_chunk)
    assert seen == [100] and renames == []
    assert out.read_text() == "the previous file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv"]  # no temporary left behind

    score_table(scorer, synthetic_customers(300, seed=1), out, chunk_rows=100)
    assert len(renames) == 1 and renames[0][1] == "scores.csv" and renames[0][0].endswith(".tmp")
    assert len(pd.read_csv(out)) == 300


def test_labelled_rows_get_gains_and_lift_and_the_drift_report(tmp_path: Path) -> None:
    scorer, frame = logistic_scorer()
    profile = reference_profile(frame, scorer.preprocessing, scores=score_frame(scorer, frame)["score"].to_numpy())
    summary = score_table(scorer, frame, tmp_path / "s.csv", profile=profile, chunk_rows=1000)
    evaluation = summary["evaluation"]
    assert evaluation["labelled_rows"] == len(frame)
    assert sum(row["responders"] for row in evaluation["gains"]) == int((frame["converted"] == "yes").sum())
    assert evaluation["lift"]["auc"] is not None
    drift = summary["drift"]
    assert drift["verdict"] == "stable" and drift["score"]["psi"] == pytest.approx(0.0, abs=1e-9)
    assert all(feature["psi"] == pytest.approx(0.0, abs=1e-9) for feature in drift["features"])


def test_unlabelled_rows_are_scored_without_an_evaluation(tmp_path: Path) -> None:
    scorer, frame = logistic_scorer()
    summary = score_table(scorer, frame.drop(columns=["converted"]), tmp_path / "s.csv")
    assert summary["evaluation"] is None and summary["drift"] is None


def test_an_empty_table_writes_a_header_only_file(tmp_path: Path) -> None:
    scorer, frame = logistic_scorer()
    summary = score_table(scorer, frame.iloc[:0], tmp_path / "s.csv")
    assert summary["rows_scored"] == 0
    assert (tmp_path / "s.csv").read_text().strip() == "customer_id,score,label"
