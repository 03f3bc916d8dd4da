"""A local S3-compatible server (moto's server mode, a subprocess) holding bank-marketing as
the object-store formats a data team uses: one Parquet file, a CSV, a gzip CSV and a folder of
Hive-partitioned Parquet files. No Docker, no network: it listens on 127.0.0.1 only.

Import `s3_bucket_fixture` into a test module to use the `s3_bucket` fixture; credentials are moto's dummy ones, and
`S3Bucket.env` is what a stack's processes need to read from it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adamant.datasets import get_builtin
from support.stack import free_port

BUCKET = "acme-marketing"
EVIL_BUCKET = f"{BUCKET}-evil"  # starts with the allowed bucket's name
PREFIX = f"s3://{BUCKET}/exports/"
ROWS = 3_000
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass(frozen=True)
class S3Bucket:
    """Where the server listens and what it holds; `local` holds the same files on disk."""

    endpoint: str
    local: Path
    parquet: str = PREFIX + "bank.parquet"
    csv: str = PREFIX + "bank.csv"
    csv_gz: str = PREFIX + "bank.csv.gz"
    partitioned: str = PREFIX + "bank-by-month/"
    outside: str = f"s3://{BUCKET}/private/bank.parquet"  # same bucket, outside PREFIX
    evil: str = f"s3://{EVIL_BUCKET}/exports/bank.parquet"

    @property
    def storage_options(self) -> dict[str, Any]:
        return {"client_kwargs": {"endpoint_url": self.endpoint}, "key": "testing", "secret": "testing"}

    @property
    def env(self) -> dict[str, str]:
        return {**CREDENTIALS, "ADAMANT_S3_ENDPOINT_URL": self.endpoint}

    def filesystem(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(skip_instance_cache=True, **self.storage_options)


def bank_sample() -> pd.DataFrame:
    return get_builtin("bank-marketing").load().head(ROWS)


def start_moto(port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **CREDENTIALS}, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto's server exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/moto-api/", timeout=1).status_code < 500:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    stop(process)
    raise RuntimeError(f"moto's server did not answer within 30 s:\n{log.read_text(errors='replace')[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def fill_bucket(bucket: S3Bucket) -> None:
    """Write the sample locally in each format, then upload the same files."""
    frame = bank_sample()
    local = bucket.local
    frame.to_parquet(local / "bank.parquet", index=False)
    frame.to_csv(local / "bank.csv", index=False)
    frame.to_csv(local / "bank.csv.gz", index=False, compression="gzip")
    pq.write_to_dataset(pa.Table.from_pandas(frame, preserve_index=False), local / "bank-by-month",
                        partition_cols=["month"])
    fs = bucket.filesystem()
    fs.mkdir(BUCKET)
    fs.mkdir(EVIL_BUCKET)  # holds a copy, so a refusal there is the prefix check's, not a missing object's
    for name in ("bank.parquet", "bank.csv", "bank.csv.gz"):
        fs.put_file(str(local / name), f"{BUCKET}/exports/{name}")
    fs.put_file(str(local / "bank.parquet"), bucket.outside.removeprefix("s3://"))
    fs.put_file(str(local / "bank.parquet"), bucket.evil.removeprefix("s3://"))
    for path in sorted((local / "bank-by-month").rglob("*.parquet")):
        relative = path.relative_to(local / "bank-by-month").as_posix()
        fs.put_file(str(path), bucket.partitioned.removeprefix("s3://") + relative)


@pytest.fixture(scope="session", name="s3_bucket")
def s3_bucket_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Bucket]:
    """moto's server on a free port with the bucket filled; stopped at the end of the session."""
    home = tmp_path_factory.mktemp("moto")
    port = free_port()
    process = start_moto(port, home / "moto.log")
    try:
        bucket = S3Bucket(endpoint=f"http://127.0.0.1:{port}", local=home)
        fill_bucket(bucket)
        yield bucket
    finally:
        stop(process)
