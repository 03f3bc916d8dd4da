"""Preparing a Parquet table by streaming: the same encoding as the whole table, a hashed split, errors at their rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from adamant.datasets import read_table
from adamant.exceptions import DatasetError
from adamant.preparation.streamed import SAMPLE_STREAM, hashed_uniform, prepare_streamed
from adamant.spec import JobSpec
from bench.customer_tables import write_customer_table

ROWS = 30_000


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bench's customer table: bank-marketing's columns, a 1,000- and a 20,000-level column."""
    path = tmp_path_factory.mktemp("streamed") / "customers.parquet"
    write_customer_table(path, ROWS, batch_rows=8_000)
    return path


def spec_for(path: Path, **dataset: Any) -> JobSpec:
    return JobSpec.model_validate({
        "task": dataset.pop("task", "binary_classification"),
        "dataset": {"ref": f"file:{path}", "target": "y", "drop": ["duration"], "id_column": "customer_id", **dataset},
        "model": {"type": "mlp", "hidden": [8]},
    })


def plain_spec(task: str, **dataset: Any) -> JobSpec:
    return JobSpec.model_validate({"task": task, "dataset": dataset, "model": {"type": "logistic"}})


def stream(spec: JobSpec, path: Path, folder: Path, **options: Any):  # type: ignore[no-untyped-def]
    folder.mkdir()
    return prepare_streamed(spec, path, folder, **{"batch_rows": 7_000, "sample_size": 6_000, **options})


def test_the_encoded_rows_are_the_whole_table_encoded_by_the_fitted_preprocessing(table: Path, tmp_path: Path) -> None:
    data, sample = stream(spec_for(table), table, tmp_path / "out")

    frame = read_table(table, text_as_categories=True)
    train_rows, val_rows = np.asarray(data.train_rows), np.asarray(data.val_rows)
    assert np.array_equal(np.sort(np.concatenate([train_rows, val_rows])), np.arange(ROWS))
    assert np.all(np.diff(train_rows) > 0) and np.all(np.diff(val_rows) > 0)  # file order
    train, val = data.preprocessing.encode(frame, [train_rows, val_rows])
    for mine, whole in ((data.train, train), (data.val, val)):
        assert np.array_equal(mine.numbers, whole.numbers)
        assert np.array_equal(mine.codes, whole.codes)
        assert np.array_equal(mine.embedded, whole.embedded)
    y = data.preprocessing.target.encode(frame["y"], np.arange(1, ROWS + 1))
    assert np.array_equal(data.y_train, y[train_rows]) and np.array_equal(data.y_val, y[val_rows])
    assert np.array_equal(data.ids_val, val_rows + 1)
    # Training ids would be the row numbers + 1 again, and nothing reads them: not written (8 bytes a row).
    assert data.ids_train is None and not (tmp_path / "out" / "ids_train.npy").exists()
    assert isinstance(data.numbers_train, np.memmap) and data.streamed
    # Every statistic comes from the sample: ~6,000 training rows, which the returned frame holds.
    fit_rows = np.asarray(data.fit_rows)
    assert 5_400 < len(fit_rows) < 6_600 and np.isin(fit_rows, train_rows).all()
    assert len(sample) == len(fit_rows)
    assert sample["age"].tolist() == frame["age"].take(fit_rows).tolist()
    assert [f.column for f in data.preprocessing.features if f.kind == "embedded"] == ["region", "postcode"]


def test_the_split_is_a_seeded_hash_of_each_row_number_whatever_the_batches(table: Path, tmp_path: Path) -> None:
    spec = spec_for(table, validation={"fraction": 0.25, "seed": 7})
    first, _ = stream(spec, table, tmp_path / "a", batch_rows=7_000)
    again, _ = stream(spec, table, tmp_path / "b", batch_rows=12_345)
    other, _ = stream(spec_for(table, validation={"fraction": 0.25, "seed": 8}), table, tmp_path / "c")

    assert np.array_equal(first.val_rows, again.val_rows)
    assert np.array_equal(first.val_rows, np.flatnonzero(hashed_uniform(np.arange(ROWS), 7) < 0.25))
    assert not np.array_equal(first.val_rows, other.val_rows)
    share = len(first.val_rows) / ROWS
    assert abs(share - 0.25) < 4 * np.sqrt(0.25 * 0.75 / ROWS)


def test_hashed_numbers_are_uniform_and_the_sample_stream_is_independent_of_the_split() -> None:
    rows = np.arange(1_000_000)
    split, sample = hashed_uniform(rows, 0), hashed_uniform(rows, 0, SAMPLE_STREAM)
    counts = np.bincount((split * 20).astype(int), minlength=20)
    assert np.all(np.abs(counts - 50_000) < 5 * np.sqrt(50_000))
    both = np.mean((split < 0.2) & (sample < 0.5))
    assert abs(both - 0.1) < 0.002
    assert abs(np.corrcoef(split, hashed_uniform(rows + 1, 0))[0, 1]) < 0.005  # neighbouring rows unrelated


def test_a_validation_column_decides_the_split(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": np.arange(400.0), "y": ["no", "yes"] * 200, "holdout": ["train"] * 300 + ["validation"] * 100})
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    spec = plain_spec("binary_classification", ref=f"file:{path}", target="y", validation={"column": "holdout"})
    data, _ = stream(spec, path, tmp_path / "out", batch_rows=64)
    assert np.array_equal(data.val_rows, np.arange(300, 400))


def test_a_missing_label_is_refused_at_its_row_in_the_first_pass(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": np.arange(1000.0), "y": ["no", "yes"] * 500})
    frame.loc[876, "y"] = None
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    spec = plain_spec("binary_classification", ref=f"file:{path}", target="y")
    with pytest.raises(DatasetError, match="row 877") as caught:
        stream(spec, path, tmp_path / "out", batch_rows=100)
    assert caught.value.column == "y" and caught.value.row == 877


def test_a_misnamed_target_is_refused_before_any_pass(tmp_path: Path, table: Path) -> None:
    spec = plain_spec("binary_classification", ref=f"file:{table}", target="bought")
    with pytest.raises(DatasetError, match="bought"):
        stream(spec, table, tmp_path / "out")


def test_a_class_the_sample_missed_still_gets_an_index(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = rng.choice(["a", "b"], 5_000).astype(object)
    labels[4_321] = "rare"
    frame = pd.DataFrame({"x": rng.normal(size=5_000), "y": labels})
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    spec = plain_spec("multiclass_classification", ref=f"file:{path}", target="y")
    data, _ = stream(spec, path, tmp_path / "out", sample_size=200)
    assert 4_321 not in np.asarray(data.fit_rows)
    assert data.class_labels == ["a", "b", "rare"]
    at = {int(r): i for i, r in enumerate(np.concatenate([data.train_rows, data.val_rows]))}[4_321]
    assert np.concatenate([data.y_train, data.y_val])[at] == 2
