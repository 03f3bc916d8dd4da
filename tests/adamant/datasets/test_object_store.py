"""s3:// dataset references against a real S3-compatible server (moto's, started by the test):
read when inside the tenant's prefixes, refused, naming the reason, when not."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from adamant.datasets import load_dataset, read_table
from adamant.datasets.object_store import object_head
from adamant.datasets.resolve import normalise_object_prefix, resolve_object
from adamant.exceptions import DatasetError
from adamant.settings import get_settings
from adamant.spec import DatasetSpec
from support.moto import BUCKET, PREFIX, S3Bucket, bank_sample, s3_bucket_fixture  # noqa: F401 - the s3_bucket fixture

ALLOWED = [PREFIX]


def load(bucket: S3Bucket, ref: str, prefixes: list[str] = ALLOWED, **spec: object) -> pd.DataFrame:
    return load_dataset(DatasetSpec(ref=ref, **spec), file_roots=[], object_prefixes=prefixes,
                        storage_options=bucket.storage_options)


def same_rows(frame: pd.DataFrame, expected: pd.DataFrame) -> None:
    """The same rows whatever their order and the column order (a partitioned folder puts its
    partition column last and its files in partition order)."""
    assert sorted(frame.columns) == sorted(expected.columns)
    frame = frame[list(expected.columns)].astype(str).sort_values(list(expected.columns)).reset_index(drop=True)
    expected = expected.astype(str).sort_values(list(expected.columns)).reset_index(drop=True)
    pd.testing.assert_frame_equal(frame, expected)


@pytest.mark.parametrize("name", ["bank.parquet", "bank.csv", "bank.csv.gz"])
def test_a_file_inside_the_prefix_reads_as_the_same_local_file(s3_bucket: S3Bucket, name: str) -> None:
    frame = load(s3_bucket, PREFIX + name)

    pd.testing.assert_frame_equal(frame, read_table(s3_bucket.local / name, text_as_categories=True))  # as a job reads it
    assert len(frame) == 3_000


@pytest.mark.parametrize("folder", ["bank-by-month/", "bank-by-month"])
def test_a_hive_partitioned_parquet_folder_reads_every_partition(s3_bucket: S3Bucket, folder: str) -> None:
    frame = load(s3_bucket, PREFIX + folder)

    same_rows(frame, bank_sample())
    assert set(frame["month"]) == set(bank_sample()["month"])


def test_the_prefix_may_be_the_whole_bucket(s3_bucket: S3Bucket) -> None:
    assert len(load(s3_bucket, s3_bucket.parquet, prefixes=[f"s3://{BUCKET}"])) == 3_000


@pytest.fixture
def endpoint_from_settings(s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in s3_bucket.env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("endpoint_from_settings")
def test_the_endpoint_and_credentials_come_from_the_environment(s3_bucket: S3Bucket) -> None:
    frame = load_dataset(DatasetSpec(ref=s3_bucket.csv), file_roots=[], object_prefixes=ALLOWED)

    assert len(frame) == 3_000


@pytest.mark.parametrize(
    ("ref", "prefixes", "reason"),
    [
        (f"s3://{BUCKET}/private/bank.parquet", ALLOWED, "is outside the tenant's allowed prefixes"),
        (PREFIX + "../private/bank.parquet", ALLOWED, "holds a '..' segment"),
        (PREFIX + "./bank.parquet", ALLOWED, "holds a '.' segment"),
        (PREFIX + "..%2Fprivate%2Fbank.parquet", ALLOWED, "percent-encoded"),
        (PREFIX + "..%2fprivate/bank.parquet", ALLOWED, "percent-encoded"),
        (PREFIX + "%2E%2E/private/bank.parquet", ALLOWED, "percent-encoded"),
        (f"s3://{BUCKET}/exports//bank.parquet", ALLOWED, "empty segment"),
        (f"s3://{BUCKET}-evil/exports/bank.parquet", ALLOWED, "is outside the tenant's allowed prefixes"),
        # A prefix written without its '/' still ends at one: the other bucket is not inside it.
        (f"s3://{BUCKET}-evil/exports/bank.parquet", [f"s3://{BUCKET}"], "is outside the tenant's allowed prefixes"),
        (f"s3://{BUCKET}/exports-old/bank.parquet", [f"s3://{BUCKET}/exports"], "is outside the tenant's allowed prefixes"),
        (PREFIX + "bank.parquet?versionId=1", ALLOWED, "query or a fragment"),
        (PREFIX + "bank.parquet", [], "object-store references are not enabled for this tenant"),
        (f"s3a://{BUCKET}/exports/bank.parquet", ALLOWED, "not enabled for s3a://"),
        (f"https://{BUCKET}.s3.amazonaws.com/exports/bank.parquet", ALLOWED, "not enabled for https://"),
    ],
)
def test_a_reference_outside_the_prefixes_is_refused_naming_why(
    s3_bucket: S3Bucket, ref: str, prefixes: list[str], reason: str
) -> None:
    with pytest.raises(DatasetError) as refused:
        load(s3_bucket, ref, prefixes=prefixes)

    assert reason in refused.value.reason
    assert repr(ref) in refused.value.reason  # names the reference as the user wrote it


def test_a_missing_object_inside_the_prefix_says_so(s3_bucket: S3Bucket) -> None:
    with pytest.raises(DatasetError, match=r"No object 's3://acme-marketing/exports/nope.parquet'"):
        load(s3_bucket, PREFIX + "nope.parquet")


def test_the_check_needs_no_store() -> None:
    # What the service does at submit: lexical, so it answers without credentials or network.
    assert resolve_object("S3://acme-marketing/exports/a.parquet", ALLOWED).url == "s3://acme-marketing/exports/a.parquet"
    with pytest.raises(DatasetError, match="outside the tenant's allowed prefixes"):
        resolve_object("s3://acme-marketing-evil/exports/a.parquet", ALLOWED)


@pytest.mark.parametrize(
    ("prefix", "normalised"),
    [("s3://acme", "s3://acme/"), ("S3://acme/exports", "s3://acme/exports/"), ("gs://b/x/", "gs://b/x/")],
)
def test_prefixes_end_at_a_slash(prefix: str, normalised: str) -> None:
    assert normalise_object_prefix(prefix) == normalised


@pytest.mark.parametrize("prefix", ["s3://", "s3://acme/../other/", "https://acme/", "acme/exports/"])
def test_a_malformed_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(DatasetError):
        normalise_object_prefix(prefix)


@pytest.mark.parametrize("name", ["bank.parquet", "bank-by-month/", "bank.csv"])
def test_the_head_of_a_large_object_is_read_without_the_whole_and_its_rows_counted(s3_bucket: S3Bucket, name: str) -> None:
    # The dry run's read of what a tenant names: at most `rows` rows in the API process.
    source = resolve_object(PREFIX + name, ALLOWED)
    found = object_head(source, 500, text_bytes=100_000, storage_options=s3_bucket.storage_options)
    assert found is not None
    head, rows, how = found
    whole = load(s3_bucket, PREFIX + name)
    assert len(head) == 500 and sorted(head.columns) == sorted(whole.columns)
    if name == "bank.csv":  # counted from the first 100 kB's rows and the object's size
        assert abs(rows - 3_000) < 300 and how == "estimated from the object's size"
        pd.testing.assert_frame_equal(head, whole.head(500), check_dtype=False, check_categorical=False)
    else:  # a folder's first rows are those of its first files, as the whole read orders them
        assert rows == 3_000 and how == "from the footers"
        pd.testing.assert_frame_equal(head, whole.head(500))
    assert object_head(source, 3_000, text_bytes=10**9, storage_options=s3_bucket.storage_options) is None  # small: whole
