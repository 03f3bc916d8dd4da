"""Uploaded datasets: stream the file to the artifact store, read it once, record it.

The body is already capped while it streams (service/upload_limit.py). Here the tenant's
dataset count and stored bytes are checked against its limits, the file is copied in chunks to
HOME/artifacts/datasets/<tenant>/<id>/ and hashed on the way, then read with the reader training
uses — a file the worker could not read is refused now, with the row and column — and described
(schema, row count, preview) for the dataset page.

Reading is bounded (ADAMANT_UPLOAD_MAX_DECOMPRESSED_BYTES, _ROWS, _COLUMNS): a small gzip CSV
or Parquet file can unpack to billions of cells, and one long line to millions of columns. The
width is checked first, in this thread, from the first line alone, so a very wide file is
answered at once. The full read runs in a child process (a small pool): its CPU and memory
are not the API's, so polls and /healthz stay fast while it parses, and a reader that dies takes
no request but its own with it. It streams, keeping only the first rows for the schema.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import shutil
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from adamant.artifacts import artifact_mirror, publish
from adamant.datasets.readers import ReadLimits, TableTooLarge, check_table_width, inspect_table
from adamant.datasets.schema import describe_table
from adamant.exceptions import DatasetError
from adamant.settings import Settings
from adamant.store import datasets as store_datasets
from adamant.store import usage as store_usage
from adamant.store.models import Dataset, new_id

CHUNK = 1 << 20
SUFFIXES = {".csv", ".tsv", ".txt", ".parquet", ".pq", ".data", ".gz"}
MAX_NAME = 200
DEFAULT_NAME = "upload.csv"
READER_PROCESSES = 2  # uploads read at once; more wait their turn
READS_PER_PROCESS = 20  # then a fresh process, so one huge read's heap does not linger


def safe_name(filename: str | None) -> str:
    """The upload's file name as a harmless single path component: no folders, no leading dot
    (so never `.` or `..`), only letters, digits and `._-`, at most 200 characters with its
    suffix kept. Whatever the client sent (empty, `/`, NUL bytes, a Windows path) gives a name."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in base).lstrip(".")
    if not name.strip("_-."):
        return DEFAULT_NAME
    if len(name) > MAX_NAME:
        stem, dot, suffix = name.rpartition(".")
        suffix = dot + suffix if dot and len(suffix) <= 16 else ""
        name = name[: MAX_NAME - len(suffix)] + suffix if suffix else name[:MAX_NAME]
    return name


def read_limits(settings: Settings) -> ReadLimits:
    return ReadLimits(
        max_decompressed_bytes=settings.upload_max_decompressed_bytes,
        max_rows=settings.upload_max_rows,
        max_columns=settings.upload_max_columns,
    )


def remove_upload(settings: Settings, dataset: Dataset) -> None:
    """A deleted dataset's file goes from the artifact root and, with one, the artifact store."""
    shutil.rmtree(settings.dataset_dir(dataset.tenant_id, dataset.id), ignore_errors=True)
    mirror = artifact_mirror(settings)
    if mirror is not None:
        mirror.delete(str(Path(dataset.path).parent))


def store_upload(session: Session, settings: Settings, tenant_id: str, source: BinaryIO, filename: str | None, name: str | None) -> Dataset:
    """Check the tenant's limits, store the file, read it, record it (DatasetError when it cannot
    be trained on, TableTooLarge past the read limits, QuotaExceeded past the tenant's)."""
    quota = store_usage.check_new_dataset(session, settings, tenant_id)  # before writing anything
    dataset_id = new_id("ds")
    filename = safe_name(filename)
    suffix = Path(filename).suffix.lower()
    if suffix and suffix not in SUFFIXES:
        raise DatasetError(f"{filename!r}: upload CSV, TSV, whitespace-separated text or Parquet ({', '.join(sorted(SUFFIXES))})")
    folder = settings.dataset_dir(tenant_id, dataset_id)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    digest = hashlib.sha256()
    size = 0
    try:
        with target.open("wb") as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        quota.check_bytes(size)
        limits = read_limits(settings)
        check_table_width(target, limits=limits)  # cheap: a very wide file is refused before the full read
        rows, described = read_upload(target, limits)
        publish(settings, target)  # ADAMANT_ARTIFACTS_URL: workers on other hosts fetch it from there
        return store_datasets.create_dataset(
            session,
            tenant_id,
            dataset_id=dataset_id,
            name=name or filename,
            path=str(target.relative_to(settings.artifact_root)),
            format="parquet" if suffix in (".parquet", ".pq") else "text",
            size_bytes=size,
            sha256=digest.hexdigest(),
            rows=rows,
            columns=described,
            max_datasets=quota.max_datasets,  # counted again as the row is written: uploads at once
        )
    except BaseException:
        # Refused or failed: no file is left that no row points at (here or in the artifact store).
        shutil.rmtree(folder, ignore_errors=True)
        mirror = artifact_mirror(settings)
        if mirror is not None:
            with contextlib.suppress(Exception):  # the store's outage must not hide why the upload failed
                mirror.delete(str(folder.relative_to(settings.artifact_root)))
        raise


def read_upload(path: Path, limits: ReadLimits) -> tuple[int, dict[str, Any]]:
    """(rows, schema with preview) of an uploaded file, read in a reader process."""
    try:
        outcome = _reader_pool().submit(describe_upload, str(path), limits).result()
    except BrokenProcessPool:
        _discard_pool()
        raise DatasetError(
            f"{path.name!r} could not be read: the process reading it died (out of memory?); "
            "send a smaller file or split it"
        ) from None
    if outcome[0] == "too_large":
        _, reason, limit, found, cap = outcome
        raise TableTooLarge(reason, limit=limit, found=found, cap=cap)
    if outcome[0] == "dataset_error":
        _, reason, column, row = outcome
        raise DatasetError(reason, column=column, row=row)
    _, rows, described = outcome
    return rows, described


def describe_upload(path: str, limits: ReadLimits) -> tuple[Any, ...]:
    """In the reader process: read the file and describe it. Errors come back as plain tuples,
    because an exception with keyword fields does not survive pickling with them."""
    try:
        inspection = inspect_table(path, limits=limits)
        described = describe_table(inspection.sample)
    except TableTooLarge as exc:
        return ("too_large", exc.reason, exc.limit, exc.found, exc.cap)
    except DatasetError as exc:
        return ("dataset_error", exc.reason, exc.column, exc.row)
    described["rows"] = inspection.rows
    if len(inspection.sample) < inspection.rows:
        described["profiled_rows"] = len(inspection.sample)  # missing/distinct/min/max are of the first rows
    return ("ok", inspection.rows, described)


_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _reader_pool() -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            # spawn, not fork: the API process has threads (a forked lock could be held forever).
            _pool = ProcessPoolExecutor(
                max_workers=READER_PROCESSES, mp_context=multiprocessing.get_context("spawn"),
                initializer=_exit_with_parent, initargs=(os.getpid(),), max_tasks_per_child=READS_PER_PROCESS,
            )
        return _pool


def _discard_pool() -> None:
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def _exit_with_parent(parent: int) -> None:
    """In a reader process: leave when the API process is gone (killed, not shut down), so no
    reader outlives the service."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
