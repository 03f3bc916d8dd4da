"""A CSV too large to read whole streams (adamant/datasets/csv_stream.py): rewritten as Parquet in two
passes of small blocks, its columns typed as read_table types the whole file (a column that turns
to text in a later block is text from its first row), a malformed row named, and a training job on
it prepared by streaming like a Parquet table."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from adamant.datasets import read_table
from adamant.datasets.catalogue import BANK_MARKETING_FILE
from adamant.datasets.csv_stream import convert_csv, csv_rows_estimate
from adamant.exceptions import DatasetError
from adamant.settings import get_settings
from adamant.spec import JobSpec
from worker.engine.reporting import RecordingReporter
from worker.engine.run import run_training

ROWS = 3000


def awkward_csv(path: Path) -> pd.DataFrame:
    """Columns whose kind only the whole file decides: each changes after the first blocks."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "amount": np.round(rng.normal(50, 10, ROWS), 2).astype(str),
        "count": rng.integers(0, 9, ROWS).astype(str),
        "late_text": rng.integers(0, 9, ROWS).astype(str),  # numbers, then one word near the end
        "zip": [f"{n:05d}" for n in rng.integers(1, 99999, ROWS)],  # zero-padded somewhere: text
        "big": rng.integers(1, 9, ROWS).astype(str),  # one 20-digit value near the end: text
        "flag": rng.choice(["true", "False"], ROWS),
        "gap": "",  # no value at all
        "city": rng.choice(["Lyon", "Porto", "Oslo"], ROWS),
    })
    frame.loc[ROWS - 5, "late_text"] = "unknown"
    frame.loc[ROWS - 7, "big"] = "12345678901234567890"
    frame.loc[ROWS - 9, "count"] = ""  # a missing integer: still integers
    frame.to_csv(path, index=False)
    return frame


def test_a_csv_streamed_in_small_blocks_is_typed_as_reading_it_whole(tmp_path: Path) -> None:
    awkward_csv(tmp_path / "t.csv")
    out = convert_csv(tmp_path / "t.csv", tmp_path / "t.parquet", block_bytes=8 * 1024)  # ~20 blocks
    assert pq.ParquetFile(tmp_path / "t.parquet").metadata.num_row_groups > 10
    streamed = pq.read_table(out).to_pandas()
    whole = read_table(tmp_path / "t.csv")
    assert list(streamed.columns) == list(whole.columns)
    for column in whole.columns:
        ours, theirs = streamed[column], whole[column]
        if isinstance(ours.dtype, pd.CategoricalDtype) or theirs.dtype == object or pd.api.types.is_string_dtype(theirs):
            assert ours.astype(object).where(ours.notna(), None).tolist() == theirs.astype(object).where(theirs.notna(), None).tolist(), column
        else:
            assert ours.dtype == theirs.dtype, column
            assert np.array_equal(ours.to_numpy(), theirs.to_numpy(), equal_nan=True), column
    assert streamed["count"].dtype == "float64" or streamed["count"].dtype == "int64"
    assert not pd.api.types.is_numeric_dtype(streamed["late_text"]) and not pd.api.types.is_numeric_dtype(streamed["big"])
    assert streamed["flag"].dtype == bool and streamed["gap"].isna().all()
    assert abs(csv_rows_estimate(tmp_path / "t.csv") - ROWS) < ROWS * 0.2
    assert csv_rows_estimate(tmp_path / "t.parquet") is None


def test_a_gzip_csv_streams_unpacked_as_it_is_read_and_converts_as_its_plain_twin(tmp_path: Path) -> None:
    awkward_csv(tmp_path / "t.csv")
    packed = tmp_path / "t.csv.gz"
    with gzip.open(packed, "wb") as file:
        file.write((tmp_path / "t.csv").read_bytes())
    assert abs(csv_rows_estimate(packed) - ROWS) < ROWS * 0.2  # from what its head unpacks to, not its packed size
    plain = pq.read_table(convert_csv(tmp_path / "t.csv", tmp_path / "plain.parquet", block_bytes=8 * 1024))
    unpacked = pq.read_table(convert_csv(packed, tmp_path / "unpacked.parquet", block_bytes=8 * 1024))
    assert unpacked.equals(plain)

    (tmp_path / "cut.csv.gz").write_bytes(packed.read_bytes()[: packed.stat().st_size // 2])  # an interrupted copy
    with pytest.raises(DatasetError, match="could not be read as CSV"):
        convert_csv(tmp_path / "cut.csv.gz", tmp_path / "cut.parquet", block_bytes=8 * 1024)


def test_a_malformed_row_stops_the_conversion_naming_it(tmp_path: Path) -> None:
    lines = ["a,b,c"] + [f"{i},{i},{i}" for i in range(2000)]
    lines[1500] = "1,2,3,4"
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match="malformed row") as caught:
        convert_csv(tmp_path / "bad.csv", tmp_path / "bad.parquet", block_bytes=4 * 1024)
    assert "4 fields where the header has 3" in str(caught.value)


def test_a_large_csv_job_is_rewritten_then_streamed_and_learns_what_its_parquet_twin_learns(tmp_path: Path) -> None:
    bank = read_table(BANK_MARKETING_FILE).sample(frac=1.0, random_state=0).head(12_000)
    bank.to_csv(tmp_path / "bank.csv", index=False)
    bank.to_csv(tmp_path / "bank.csv.gz", index=False)  # gzip, by its name
    bank.to_parquet(tmp_path / "bank.parquet")

    def train(name: str) -> tuple[RecordingReporter, dict[str, float]]:
        spec = JobSpec.model_validate({
            "task": "binary_classification",
            "dataset": {"ref": f"file:{tmp_path / name}", "target": "y", "drop": ["duration"]},
            "model": {"type": "logistic"},
            "training": {"epochs": 1, "batch_size": 512},
            "resources": {"device": "cpu"},
        })
        reporter = RecordingReporter()
        result = run_training(spec, tmp_path / name.replace(".", "-"), reporter, file_roots=[tmp_path], prepared_cache=None,
                              stream_from_rows=10_000)
        return reporter, result.best_metrics

    reporter, from_csv = train("bank.csv")
    logs = "\n".join(reporter.messages)
    assert "rewrote bank.csv as Parquet to stream it: 12,000 rows" in logs and "prepared data by streaming 12,000 rows" in logs
    assert from_csv == train("bank.parquet")[1]  # the same typed columns, split, sample and batches
    packed, from_gzip = train("bank.csv.gz")
    assert "rewrote bank.csv.gz as Parquet to stream it: 12,000 rows" in "\n".join(packed.messages)
    assert from_gzip == from_csv
    objects = get_settings().home.absolute() / "cache" / "objects"
    assert not objects.exists() or not list(objects.glob("*")), "the Parquet copy is removed when the run ends"
    phases = [p.data.phase for p in reporter.progresses if p.data is not None]
    assert "converting" in phases and phases.index("converting") < phases.index("preparing")
