"""read_table's on_rows: a read tells how far it is, and what it returns is the same as without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adamant.datasets import readers
from adamant.datasets.readers import read_table


def table(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "customer_id": np.arange(rows),
        "age": rng.integers(18, 90, rows),
        "balance": rng.normal(size=rows).round(4),
        "region": rng.choice(["north", "south", "east"], rows),
    })


def heard(path: Path, **kw: object) -> tuple[pd.DataFrame, list[tuple[int, int | None]]]:
    calls: list[tuple[int, int | None]] = []
    frame = read_table(path, on_rows=lambda rows, total: calls.append((rows, total)), **kw)  # type: ignore[arg-type]
    return frame, calls


def assert_increasing_to(calls: list[tuple[int, int | None]], rows: int) -> None:
    counts = [count for count, _ in calls]
    assert counts == sorted(counts) and counts[0] == 0
    assert calls[-1] == (rows, rows)


def test_parquet_of_several_row_groups_reports_each_group_with_the_footers_total(tmp_path: Path) -> None:
    path = tmp_path / "customers.parquet"
    pq.write_table(pa.Table.from_pandas(table(10_000)), path, row_group_size=2_500)

    frame, calls = heard(path)

    assert calls == [(0, 10_000), (2_500, 10_000), (5_000, 10_000), (7_500, 10_000), (10_000, 10_000)]
    pd.testing.assert_frame_equal(frame, read_table(path))


def test_csv_reports_each_block_with_a_total_estimated_from_its_first_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", 64 * 1024)  # a small file still reads in several blocks
    path = tmp_path / "customers.csv"
    table(20_000).to_csv(path, index=False)

    frame, calls = heard(path)

    assert_increasing_to(calls, 20_000)
    midway = calls[1:-1]
    assert len(midway) >= 5 and all(0 < count <= 20_000 and abs(total - 20_000) < 2_000 for count, total in midway), midway
    pd.testing.assert_frame_equal(frame, read_table(path))


def test_a_gzip_csv_reports_rows_as_they_are_checked_then_the_exact_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "ROWS_REPORT_S", 0.0)  # every clock read reports: a small file still reports midway
    path = tmp_path / "customers.csv.gz"
    table(20_000).to_csv(path, index=False)  # gzip takes the careful path: the whole text, checked row by row

    frame, calls = heard(path)

    assert_increasing_to(calls, 20_000)
    midway = calls[1:-1]
    assert midway and all(0 < count < 20_000 and total == 20_000 for count, total in midway)  # estimated from lines
    pd.testing.assert_frame_equal(frame, read_table(path))


@pytest.mark.parametrize("name", ["plain.csv", "plain.csv.gz"])
def test_csv_without_a_header_counts_its_first_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setattr(readers, "ROWS_REPORT_S", 0.0)
    path = tmp_path / name
    table(8_192).to_csv(path, index=False, header=False)

    frame, calls = heard(path)

    assert_increasing_to(calls, 8_192)
    assert len(frame) == 8_192
    pd.testing.assert_frame_equal(frame, read_table(path))
