"""A training reports its data phase before its first step: rows read, then preparing, then ready."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from adamant.preparation import PreparedDataCache
from adamant.spec import JobSpec
from worker.engine.reporting import RecordingReporter
from worker.engine.run import run_training


def spec(ref: str) -> JobSpec:
    return JobSpec.model_validate({
        "task": "binary_classification",
        "dataset": {"ref": ref, "target": "converted", "id_column": "customer_id"},
        "model": {"type": "mlp", "hidden": [8]},
        "training": {"epochs": 1, "batch_size": 64, "seed": 3},
        "resources": {"device": "cpu"},
    })


def data_phases(reporter: RecordingReporter) -> list[str]:
    return [p.data.phase for p in reporter.progresses if p.data is not None]


def test_a_training_reports_reading_then_preparing_before_its_first_step(tmp_path: Path, customers: pd.DataFrame) -> None:
    pq.write_table(pa.Table.from_pandas(customers, preserve_index=False), tmp_path / "customers.parquet",
                   row_group_size=len(customers) // 4 + 1)
    reporter = RecordingReporter()

    run_training(spec("file:customers.parquet"), tmp_path / "run", reporter, file_roots=[tmp_path], resume=False,
                 prepared_cache=None)

    first_step = next(i for i, p in enumerate(reporter.progresses) if p.data is None)
    before = reporter.progresses[:first_step]
    assert all(p.data is not None for p in before) and not any(p.data for p in reporter.progresses[first_step:])
    phases = data_phases(reporter)
    assert phases[:5] == ["reading"] * 5 and phases[5:] == ["preparing", "ready"]  # 4 row groups, and the start
    reads = [p.data for p in before if p.data and p.data.phase == "reading"]
    assert [d.rows_read for d in reads] == sorted(d.rows_read for d in reads)
    assert reads[-1].rows_read == reads[-1].rows_total == len(customers) and reads[-1].eta_s == 0.0
    assert reads[-1].rows_per_s and reads[-1].rows_per_s > 0
    assert before[-1].data and before[-1].data.rows_read == len(customers)


def test_a_run_whose_data_is_cached_reports_from_cache(tmp_path: Path, customers: pd.DataFrame) -> None:
    customers.to_csv(tmp_path / "customers.csv", index=False)
    cache = PreparedDataCache(tmp_path / "cache", 1024**3)
    run_training(spec("file:customers.csv"), tmp_path / "first", RecordingReporter(), file_roots=[tmp_path],
                 resume=False, prepared_cache=cache)
    reporter = RecordingReporter()

    run_training(spec("file:customers.csv"), tmp_path / "second", reporter, file_roots=[tmp_path], resume=False,
                 prepared_cache=cache)

    assert data_phases(reporter) == ["from cache"]
    assert next(p.data for p in reporter.progresses if p.data).rows_read == len(customers)
