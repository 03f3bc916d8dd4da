"""A big Parquet table in an object store streams like a local one: copied to the worker's disk, prepared in two
passes, cached by its bytes' sha256, the copy removed; a reference outside the tenant's prefixes is still refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adamant.exceptions import DatasetError
from adamant.preparation import PreparedDataCache
from adamant.settings import get_settings
from adamant.spec import JobSpec
from support.moto import PREFIX, S3Bucket, s3_bucket_fixture  # noqa: F401 - the s3_bucket fixture
from worker.engine.reporting import RecordingReporter
from worker.engine.run import run_training


@pytest.fixture
def s3_settings(s3_bucket: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The worker's settings pointed at moto's server, ADAMANT_HOME in tmp_path."""
    for name, value in s3_bucket.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ADAMANT_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def job(ref: str) -> JobSpec:
    return JobSpec.model_validate({
        "task": "binary_classification",
        "dataset": {"ref": ref, "target": "y", "drop": ["duration"]},
        "model": {"type": "logistic"},
        "training": {"epochs": 1, "batch_size": 256},
        "resources": {"device": "cpu"},
    })


def test_a_big_parquet_object_streams_from_a_copy_that_is_removed_and_a_second_run_hits_the_cache(
    s3_bucket: S3Bucket, s3_settings: Path, tmp_path: Path
) -> None:
    cache = PreparedDataCache(tmp_path / "cache", 2**30)
    first, second = RecordingReporter(), RecordingReporter()
    for reporter, run in ((first, "first"), (second, "second")):
        run_training(job(s3_bucket.parquet), tmp_path / run, reporter, file_roots=[], object_prefixes=[PREFIX],
                     prepared_cache=cache, stream_from_rows=1_000)

    assert any(m.startswith("prepared data by streaming 3,000 rows") and "cached as" in m for m in first.messages), first.messages
    assert any(m.startswith("prepared data from cache") for m in second.messages), second.messages
    assert first.series("val_auc")[-1][1] == second.series("val_auc")[-1][1]  # the same arrays, the same run
    assert not list((s3_settings / "cache" / "objects").iterdir())  # the copies are gone


def test_a_small_object_is_read_whole_and_one_outside_the_prefixes_is_refused(
    s3_bucket: S3Bucket, s3_settings: Path, tmp_path: Path
) -> None:
    reporter = RecordingReporter()
    run_training(job(s3_bucket.parquet), tmp_path / "small", reporter, file_roots=[], object_prefixes=[PREFIX],
                 prepared_cache=None, stream_from_rows=10_000)
    assert not any("streaming" in m for m in reporter.messages)
    with pytest.raises(DatasetError, match="outside the tenant's allowed prefixes"):
        run_training(job(s3_bucket.outside), tmp_path / "outside", RecordingReporter(), file_roots=[],
                     object_prefixes=[PREFIX], prepared_cache=None, stream_from_rows=1_000)
