"""The CSV-streaming benchmark runs end to end on a small table: every step measured, none failed,
the job streamed its rewritten copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_the_benchmark_measures_every_step_and_the_job_streams(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.csv_stream import STEPS, main

    assert main(["--rows", "20000", "--workdir", str(tmp_path), "--json", str(tmp_path / "r.json")]) == 0
    printed = capsys.readouterr().out
    (size,) = json.loads((tmp_path / "r.json").read_text())["sizes"]
    for step in STEPS:
        assert size["steps"][step]["seconds"] > 0 and size["steps"][step]["peak_rss_gb"] > 0, (step, size["steps"][step])
    assert size["steps"]["floor"]["rows"] == size["steps"]["whole"]["rows"] == 20_000
    assert 0.5 < size["steps"]["job"]["val_auc"] < 1.0
    assert "rewrote customers-20000.csv as Parquet to stream it: 20,000 rows" in printed and "failed" not in printed
