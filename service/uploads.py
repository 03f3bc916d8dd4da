"""Uploaded datasets: stream the file to the artifact store, read it once, record it.

The body is already capped while it streams (service/upload_limit.py). Here the file is
copied in chunks to HOME/artifacts/datasets/<tenant>/<id>/, hashed on the way, parsed with
the same reader training uses — a file the worker could not read is refused now, with the
row and column — and described (schema, row count, preview) for the dataset page.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session

from adamant.artifacts import artifact_mirror, publish
from adamant.datasets import describe_table, read_table
from adamant.exceptions import DatasetError
from adamant.settings import Settings
from adamant.store import datasets as store_datasets
from adamant.store.models import Dataset, new_id

CHUNK = 1 << 20
SUFFIXES = {".csv", ".tsv", ".txt", ".parquet", ".pq", ".data"}


def safe_name(filename: str | None) -> str:
    name = Path(filename or "upload.csv").name.strip() or "upload.csv"
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:200]


def remove_upload(settings: Settings, dataset: Dataset) -> None:
    """A deleted dataset's file goes from the artifact root and, with one, the artifact store."""
    shutil.rmtree(settings.dataset_dir(dataset.tenant_id, dataset.id), ignore_errors=True)
    mirror = artifact_mirror(settings)
    if mirror is not None:
        mirror.delete(str(Path(dataset.path).parent))


def store_upload(session: Session, settings: Settings, tenant_id: str, source: BinaryIO, filename: str | None, name: str | None) -> Dataset:
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
        frame = read_table(target)
        described = describe_table(frame)
        publish(settings, target)  # ADAMANT_ARTIFACTS_URL: workers on other hosts fetch it from there
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return store_datasets.create_dataset(
        session,
        tenant_id,
        dataset_id=dataset_id,
        name=name or filename,
        path=str(target.relative_to(settings.artifact_root)),
        format="parquet" if suffix in (".parquet", ".pq") else "text",
        size_bytes=size,
        sha256=digest.hexdigest(),
        rows=len(frame),
        columns=described,
    )
