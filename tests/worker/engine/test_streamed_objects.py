"""A big Parquet table in an object store streams like a local one: copied to the worker's disk, prepared in two
passes, cached by the object's version (its ETag: a hit copies nothing, new bytes miss), the copy removed; a reference
outside the tenant's prefixes is still refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adamant.datasets import get_builtin
from adamant.datasets.object_store import ObjectListing, list_object
from adamant.datasets.resolve import resolve_object
from adamant.exceptions import DatasetError
from adamant.preparation import PreparedDataCache
from adamant.settings import get_settings
from adamant.spec import JobSpec
from support.moto import PREFIX, S3Bucket, bank_sample, s3_bucket_fixture  # noqa: F401 - the s3_bucket fixture
from worker.engine import run as run_module
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


def test_a_big_parquet_object_streams_from_a_copy_and_a_second_run_hits_the_cache_without_copying_it(
    s3_bucket: S3Bucket, s3_settings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = PREFIX + "streamed-copy.parquet"  # this test's own object: it is rewritten below
    fs = s3_bucket.filesystem()
    fs.put_file(str(s3_bucket.local / "bank.parquet"), ref.removeprefix("s3://"))
    copies: list[str] = []
    download = ObjectListing.download
    monkeypatch.setattr(ObjectListing, "download", lambda listing, local: copies.append(listing.source.url) or
                        download(listing, local))
    cache = PreparedDataCache(tmp_path / "cache", 2**30)

    def train(name: str) -> RecordingReporter:
        reporter = RecordingReporter()
        run_training(job(ref), tmp_path / name, reporter, file_roots=[], object_prefixes=[PREFIX],
                     prepared_cache=cache, stream_from_rows=1_000)
        return reporter

    first = train("first")
    assert any(m.startswith("prepared data by streaming 3,000 rows") and "cached as" in m for m in first.messages), first.messages
    assert copies == [ref]
    second = train("second")  # the same ETag: from the cache, and the object is not copied again
    assert any(m.startswith("prepared data from cache") for m in second.messages), second.messages
    assert copies == [ref]
    assert first.series("val_auc")[-1][1] == second.series("val_auc")[-1][1]  # the same arrays, the same run

    bank_sample().head(2_500).to_parquet(tmp_path / "changed.parquet", index=False)
    fs.put_file(str(tmp_path / "changed.parquet"), ref.removeprefix("s3://"))  # new bytes, new ETag
    third = train("third")
    assert any(m.startswith("prepared data by streaming 2,500 rows") for m in third.messages), third.messages
    assert copies == [ref, ref]
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


def test_a_big_partitioned_folder_streams_from_a_copy_of_its_files_and_hits_the_cache_by_their_etags(
    s3_bucket: S3Bucket, s3_settings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copies: list[Path] = []
    listings: list[str] = []
    download, listed = ObjectListing.download, run_module.list_object

    def counted_download(listing, local):  # type: ignore[no-untyped-def]
        download(listing, local)
        copies.append(local)
        assert len({path.parent.name for path in local.rglob("*.parquet")}) == len(months)  # one folder a month

    monkeypatch.setattr(ObjectListing, "download", counted_download)
    monkeypatch.setattr(run_module, "list_object", lambda source: listings.append(source.url) or listed(source))
    cache = PreparedDataCache(tmp_path / "cache", 2**30)
    frame = get_builtin("bank-marketing").load().sample(4_000, random_state=0)  # every month, both classes
    months = set(frame["month"])
    pq.write_to_dataset(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "by-month", partition_cols=["month"])
    folder = PREFIX + "streamed-by-month/"  # this test's own folder: one file is rewritten below
    fs = s3_bucket.filesystem()
    files = {path.relative_to(tmp_path / "by-month").as_posix(): path for path in (tmp_path / "by-month").rglob("*.parquet")}
    for relative, path in files.items():
        fs.put_file(str(path), folder.removeprefix("s3://") + relative)

    def train(name: str) -> RecordingReporter:
        reporter = RecordingReporter()
        run_training(job(folder), tmp_path / name, reporter, file_roots=[], object_prefixes=[PREFIX],
                     prepared_cache=cache, stream_from_rows=1_000)
        return reporter

    (tmp_path / "_SUCCESS").write_text("done")  # a marker a Spark job leaves: not Parquet, not listed
    fs.put_file(str(tmp_path / "_SUCCESS"), folder.removeprefix("s3://") + "_SUCCESS")
    first = train("first")
    assert any(m.startswith("prepared data by streaming 4,000 rows") for m in first.messages), first.messages
    assert listings == [folder]  # one listing gave the rows, the version and the files copied (not _SUCCESS)
    second = train("second")
    assert any(m.startswith("prepared data from cache") for m in second.messages), second.messages
    assert len(copies) == 1 and not copies[0].exists()  # copied once, and the copy removed

    relative, path = sorted(files.items())[0]
    rows = len(pd.read_parquet(path))
    pd.read_parquet(path).head(10).to_parquet(tmp_path / "changed.parquet", index=False)
    fs.put_file(str(tmp_path / "changed.parquet"), folder.removeprefix("s3://") + relative)  # one file's new bytes
    third = train("third")
    assert any(m.startswith(f"prepared data by streaming {4_000 - rows + 10:,} rows") for m in third.messages), third.messages
    assert len(copies) == 2
    assert not list((s3_settings / "cache" / "objects").iterdir())


def test_a_local_partitioned_folder_trains_read_whole_or_streamed_and_records_its_bytes(tmp_path: Path) -> None:
    """A `file:` reference to a folder of Hive-partitioned Parquet files: read whole under the
    streaming threshold, streamed above it, its content's sha256 recorded either way (and the same)."""
    folder = tmp_path / "files" / "bank-by-month"
    pq.write_to_dataset(pa.Table.from_pandas(bank_sample(), preserve_index=False), folder, partition_cols=["month"])
    results = {}
    for name, threshold in (("whole", 10**9), ("streamed", 1_000)):
        reporter = RecordingReporter()
        result = run_training(job(f"file:{folder.relative_to(tmp_path / 'files')}"), tmp_path / name, reporter,
                              file_roots=[tmp_path / "files"], prepared_cache=PreparedDataCache(tmp_path / f"cache-{name}", 2**30),
                              stream_from_rows=threshold)
        assert result.stop_reason == "completed" and "val_auc" in result.best_metrics, reporter.messages
        assert any(line.startswith("streamed table") for line in reporter.messages) == (name == "streamed")
        results[name] = result.summary["dataset"]["sha256"]
    assert results["whole"] and results["whole"] == results["streamed"]


def test_an_object_rewritten_between_its_listing_and_its_copy_is_refused_not_trained_on_unnamed(
    s3_bucket: S3Bucket, s3_settings: Path, tmp_path: Path
) -> None:
    """The cache key is the listed version: a copy of other bytes would be cached under it."""
    ref = PREFIX + "rewritten-mid-copy.csv"
    fs = s3_bucket.filesystem()
    bank_sample().to_csv(tmp_path / "before.csv", index=False)
    fs.put_file(str(tmp_path / "before.csv"), ref.removeprefix("s3://"))
    listing = list_object(resolve_object(ref, [PREFIX]))
    listing.download(tmp_path / "copy.csv")  # unchanged: copied
    assert (tmp_path / "copy.csv").read_bytes() == (tmp_path / "before.csv").read_bytes()

    changed = bank_sample()
    changed["y"] = changed["y"].iloc[::-1].to_numpy()  # the same size, other bytes: only the ETag tells
    changed.to_csv(tmp_path / "after.csv", index=False)
    assert (tmp_path / "after.csv").stat().st_size == (tmp_path / "before.csv").stat().st_size
    fs.put_file(str(tmp_path / "after.csv"), ref.removeprefix("s3://"))
    with pytest.raises(DatasetError, match="changed while it was copied"):
        listing.download(tmp_path / "second-copy.csv")
    assert list_object(resolve_object(ref, [PREFIX])).version() != listing.version()
