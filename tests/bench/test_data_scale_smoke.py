"""The data-at-scale benchmark runs end to end on a small table and prints every column with a number."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from bench import customer_tables, data_scale

ROWS = 5_000
STREAMED = 6_000


def test_generated_table_has_the_bank_columns_and_two_nested_high_cardinality_ones(tmp_path):
    path = tmp_path / "customers.parquet"
    info = customer_tables.write_customer_table(path, ROWS, batch_rows=2_000)  # three record batches

    table = pq.read_table(path)
    bank = customer_tables.bank_marketing()
    assert info["rows"] == table.num_rows == ROWS
    assert set(bank.column_names) | {"customer_id", "region", "postcode"} == set(table.column_names)
    assert table.column("customer_id").to_pylist() == list(range(1, ROWS + 1))
    postcodes = table.column("postcode").to_pylist()
    regions = table.column("region").to_pylist()
    assert len(set(postcodes)) > 1_000  # many levels even in a small table: far past the 50-level collapse
    assert all(int(r[1:]) == int(p[1:]) // customer_tables.POSTCODES_PER_REGION for p, r in zip(postcodes, regions))
    assert set(table.column("y").to_pylist()) == {"yes", "no"}
    assert 0.05 < info["positive_rate"] < 0.4


@pytest.mark.slow
def test_benchmark_prints_every_column_with_positive_numbers(tmp_path, capsys):
    markdown, report_json = tmp_path / "data_scale.md", tmp_path / "data_scale.json"
    # ROWS in memory; STREAMED rows (>= --stream-from-rows) prepared by streaming, as a 100M-row table is
    assert data_scale.main(["--rows", str(ROWS), str(STREAMED), "--stream-from-rows", str(STREAMED), "--workdir",
                            str(tmp_path / "work"), "--markdown", str(markdown), "--json", str(report_json)]) == 0

    printed = capsys.readouterr().out
    assert printed.startswith("machine: ") and " cores" in printed and "RAM" in printed and "method: " in printed
    lines = printed.splitlines()
    header = next(line for line in lines if line.strip().startswith("rows"))
    for name, _ in data_scale.COLUMNS:
        assert name in header
    row = next(line for line in lines if line.strip().startswith(f"{ROWS:,}")).split()
    assert len(row) == len(data_scale.COLUMNS)
    numbers = [float(cell.replace(",", "")) for cell in row]  # "skipped" or "failed" would not parse
    assert all(value > 0 for value in numbers[:-1])  # rows, MB, seconds, GB, samples/s, bytes/row
    assert 0 < numbers[-1] < 1  # val AUC
    assert "10,000,000 rows: trains one epoch with peak RSS <= 6 GB" in printed
    assert "prepare <= 3x pyarrow read" in printed and "prepare <= one epoch" in printed

    assert "```" in markdown.read_text() and header in markdown.read_text()
    report = json.loads(report_json.read_text())
    steps = report["sizes"][str(ROWS)]
    assert all(steps[step]["peak_rss"] > 0 for step in data_scale.STEPS)
    assert not list((tmp_path / "work").glob("*.parquet")), "the tables are removed after each size"

    streamed = next(line for line in lines if line.strip().startswith(f"{STREAMED:,}")).split()
    cells = dict(zip([name for name, _ in data_scale.COLUMNS], streamed))
    assert cells["floor encode s"] == cells["encode RSS GB"] == "skipped"  # an in-memory floor
    assert all(float(cells[name].replace(",", "")) > 0 for name in ("floor read s", "adamant prepare s", "epoch s", "job RSS GB"))
    assert f"{STREAMED:>11,} rows: streamed: " in printed and "GB of encoded rows on disk" in printed
    assert steps and report["sizes"][str(STREAMED)]["epoch"]["streamed"] is True
    assert report["sizes"][str(ROWS)]["epoch"]["streamed"] is False


def test_the_benchmark_streams_from_the_size_a_job_streams_from() -> None:
    from adamant.settings import Settings

    assert data_scale.DEFAULT_STREAM_FROM_ROWS == Settings.model_fields["stream_from_rows"].default
