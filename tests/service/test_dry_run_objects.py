"""The dry run of an object-store table holds its head only: an API process must not read a
tenant's 6 GB object or folder to validate a spec (the worker streams it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adamant.settings import get_settings
from adamant.spec import JobSpec
from service import dry_run
from support.moto import PREFIX, S3Bucket, s3_bucket_fixture  # noqa: F401 - the s3_bucket fixture


@pytest.fixture
def s3_env(s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in s3_bucket.env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def no_uploads(dataset_id: str) -> Path:
    raise KeyError(dataset_id)


@pytest.mark.parametrize("name", ["bank.parquet", "bank-by-month/", "bank.csv"])
def test_a_large_object_is_checked_on_its_head_and_its_rows_counted(
    s3_env: None, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dry_run, "DRY_RUN_ROWS", 400)
    monkeypatch.setattr(dry_run, "DRY_RUN_TEXT_BYTES", 60_000)
    monkeypatch.setattr(dry_run, "load_dataset", lambda *a, **k: pytest.fail("the whole table was read"))
    spec = JobSpec.model_validate({"task": "binary_classification", "dataset": {"ref": PREFIX + name, "target": "y"},
                                   "model": {"type": "logistic"}})
    frame, rows, how = dry_run.table_to_check(spec, get_settings(), no_uploads, [PREFIX])
    assert len(frame) == 400 and "y" in frame.columns
    assert rows == 3_000 if how == "from the footers" else abs(rows - 3_000) < 300


def test_a_small_object_is_read_whole(s3_env: None) -> None:
    spec = JobSpec.model_validate({"task": "binary_classification", "dataset": {"ref": PREFIX + "bank.csv", "target": "y"},
                                   "model": {"type": "logistic"}})
    frame, rows, how = dry_run.table_to_check(spec, get_settings(), no_uploads, [PREFIX])
    assert len(frame) == 3_000 and rows is None and how == ""


def test_a_large_local_folder_is_checked_on_its_head_and_its_rows_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from support.moto import bank_sample

    pq.write_to_dataset(pa.Table.from_pandas(bank_sample(), preserve_index=False), tmp_path / "by-month",
                        partition_cols=["month"])
    monkeypatch.setattr(dry_run, "DRY_RUN_ROWS", 400)
    monkeypatch.setattr(dry_run, "load_dataset", lambda *a, **k: pytest.fail("the whole table was read"))
    spec = JobSpec.model_validate({"task": "binary_classification", "dataset": {"ref": "file:by-month", "target": "y"},
                                   "model": {"type": "logistic"}})
    settings = get_settings().model_copy(update={"file_roots": [tmp_path]})
    frame, rows, how = dry_run.table_to_check(spec, settings, no_uploads, [])
    assert (len(frame), rows, how) == (400, 3_000, "from the files' footers") and "month" in frame.columns
