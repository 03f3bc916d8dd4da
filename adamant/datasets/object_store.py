"""Reading what an object-store URI names (s3://, gs://, az://, through fsspec): a Parquet, CSV or
.csv.gz object, or a folder of Parquet files partitioned Hive-style (`month=may/part-0.parquet`).
The URI was checked against the tenant's prefixes by resolve.resolve_object before it got here.

A streamed job (worker/engine/run.py) lists the object once (`list_object`): its row count, the
version its prepared-data cache is keyed by and the files it copies all come from that one
listing, so the version names the bytes that were copied, and a file rewritten between the
listing and the copy is refused (its size or its ETag changed) instead of trained on unnamed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from adamant.datasets.readers import (
    PARQUET_MAGIC,
    UNLIMITED,
    ReadLimits,
    RowsCallback,
    TableTooLarge,
    batches_frame,
    csv_head,
    read_table,
    text_columns,
)
from adamant.exceptions import DatasetError

_FSSPEC_PACKAGES = {"s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs", "abfss": "adlfs"}
_VERSION_KEYS = ("ETag", "etag", "md5Hash", "generation", "VersionId")
_IGNORED_PREFIXES = (".", "_")  # pyarrow's discovery skips such files and folders (_SUCCESS, .hidden)


@dataclass(frozen=True)
class ObjectReference:
    """An object-store URI inside one of the tenant's prefixes: a file, or a folder (ends in '/')
    of Parquet files. `url` is the normalised form that was checked."""

    url: str

    @property
    def scheme(self) -> str:
        return self.url.partition("://")[0]

    @property
    def name(self) -> str:
        return PurePosixPath(self.url.partition("://")[2]).name


def object_storage_options(scheme: str) -> dict[str, Any]:
    """fsspec's options for `scheme` from the settings: ADAMANT_S3_ENDPOINT_URL for an
    S3-compatible server. Credentials come from each package's usual environment."""
    from adamant.settings import get_settings

    endpoint = get_settings().s3_endpoint_url
    if scheme == "s3" and endpoint:
        return {"client_kwargs": {"endpoint_url": endpoint}}
    return {}


def read_object(
    source: ObjectReference,
    *,
    format: str = "auto",
    delimiter: str | None = None,
    limits: ReadLimits = UNLIMITED,
    storage_options: Mapping[str, Any] | None = None,
    on_rows: RowsCallback | None = None,
) -> pd.DataFrame:
    """The table an allowed object-store URI holds: one file, read as read_table reads a local
    one (the same types, the same errors), or a folder of Hive-partitioned Parquet files."""
    fs, path = _filesystem(source, storage_options)
    with _store_errors(source):
        if _is_folder(source, fs, path):
            frame = _read_parquet_folder(source, fs, path, limits)
            if on_rows is not None:
                on_rows(len(frame), len(frame))
            return frame
        size = fs.size(path)
        if size is not None and size > limits.max_decompressed_bytes:
            raise TableTooLarge(
                f"{source.name!r} holds {size:,} bytes; the limit is {limits.max_decompressed_bytes:,} "
                "(upload_max_decompressed_bytes)",
                limit="decompressed_bytes", found=size, cap=limits.max_decompressed_bytes,
            )
        with tempfile.TemporaryDirectory(prefix="adamant-object-") as folder_path:
            local = Path(folder_path) / (source.name or "object")
            fs.get_file(path, str(local))
            return read_table(local, format=format, delimiter=delimiter, limits=limits,  # type: ignore[arg-type]
                              on_rows=on_rows, text_as_categories=True)


@dataclass(frozen=True)
class ObjectListing:
    """One listing of an object, or of a folder's Parquet files (sorted store paths), with the
    store's info for each (size; ETag, md5Hash or generation where the store gives one)."""

    source: ObjectReference
    root: str  # the store path of the object or the folder
    folder: bool
    files: dict[str, dict[str, Any]]
    fs: Any = field(repr=False, compare=False)

    def rows(self, format: str = "auto") -> int | None:
        """The rows of a Parquet object or folder, from the footers (a few ranged reads a file,
        never a whole object); None for an object of another format."""
        if format not in ("auto", "parquet"):
            return None
        with _store_errors(self.source):
            if self.folder:
                return sum(_footer(self.fs, path).num_rows for path in self.files)
            with self.fs.open(self.root, "rb") as file:
                if file.read(len(PARQUET_MAGIC)) != PARQUET_MAGIC:
                    return None
                file.seek(0)
                return pq.ParquetFile(file).metadata.num_rows

    def version(self) -> dict[str, Any] | None:
        """What identifies these bytes from the store's metadata alone (with each file's size), or
        None when the store says nothing that changes with the content. A folder's is every file's
        (path, size, version) as one sha256, None if any file has no version."""
        if not self.folder:
            return _version(self.source.url, self.files[self.root])
        files = [_version(path, info) for path, info in self.files.items()]
        if any(version is None for version in files):
            return None
        listing = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
        return {"url": self.source.url, "files": len(files), "listing_sha256": listing}

    def download(self, destination: Path) -> None:
        """Copy the object to the local file `destination`, or the folder's files into the local
        folder `destination` at their paths under it (partition folders kept), streamed by fsspec
        and never held in memory; DatasetError when a file's size or version is no longer the listed one."""
        with _store_errors(self.source):
            for path, info in self.files.items():
                local = destination if not self.folder else destination / PurePosixPath(path).relative_to(self.root)
                local.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(path, str(local))
                self.fs.invalidate_cache(path)  # the store's word now, not the listing's
                now = self.fs.info(path)
                if local.stat().st_size != info.get("size") or _version(path, now) != _version(path, info):
                    raise DatasetError(f"{self.source.url!r} changed while it was copied ({path!r}); submit the job again")


def list_object(source: ObjectReference, storage_options: Mapping[str, Any] | None = None) -> ObjectListing:
    """One listing of `source`: the object's own info, or a folder's Parquet files as pyarrow's
    discovery finds them (every file under it but those in or named `.`/`_`-prefixed)."""
    fs, path = _filesystem(source, storage_options)
    with _store_errors(source):
        if not _is_folder(source, fs, path):
            return ObjectListing(source, path, False, {path: fs.info(path)}, fs)
        root = path.rstrip("/")
        found = fs.find(root, detail=True)  # one listing: S3 lists each key's size and ETag
    files = {
        name: info for name, info in sorted(found.items())
        if not any(part.startswith(_IGNORED_PREFIXES) for part in PurePosixPath(name).relative_to(root).parts)
    }
    if not files:
        raise DatasetError(f"The folder {source.url!r} holds no Parquet files")
    return ObjectListing(source, root, True, files, fs)


def _footer(fs: Any, path: str) -> Any:
    with fs.open(path, "rb") as file:
        return pq.read_metadata(file)


def _version(url: str, info: Mapping[str, Any]) -> dict[str, Any] | None:
    version = {key: str(info[key]) for key in _VERSION_KEYS if info.get(key)}
    return {"url": url, "size": info.get("size"), **version} if version else None


def object_head(
    source: ObjectReference, rows: int, *, text_bytes: int, format: str = "auto", delimiter: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, int, str] | None:
    """(the first `rows` rows of an object or folder that holds more, its row count, how it is known),
    read as read_object reads the whole (text as categoricals; a folder's keys as columns); or None
    for one small enough to read whole: at most `rows` Parquet rows, or a text object of at most
    `text_bytes` bytes (or gzip, or one the Arrow CSV path leaves to the careful one). A Parquet
    object's count is from its footers and its head from ranged reads; a text object's head is from
    its first `text_bytes` bytes, its count estimated from its size."""
    listing = list_object(source, storage_options)
    total = listing.rows(format)
    with _store_errors(source):
        if total is not None:
            if total <= rows:
                return None
            return _parquet_head(listing, rows), total, "from the footers"
        size = listing.files[listing.root].get("size")
        if size is None or size <= text_bytes or source.name.lower().endswith(".gz"):
            return None
        with listing.fs.open(listing.root, "rb") as file:
            raw = file.read(text_bytes)
    whole_lines = raw[: raw.rfind(b"\n") + 1]
    with tempfile.TemporaryDirectory(prefix="adamant-head-") as folder:
        local = Path(folder) / (source.name or "object")
        local.write_bytes(whole_lines)
        head = csv_head(local, rows, format, delimiter)  # type: ignore[arg-type]
    if head is None or not whole_lines:
        return None
    frame, rows_in_bytes = head
    return frame, max(len(frame), round(rows_in_bytes * size / len(whole_lines))), "estimated from the object's size"


def _parquet_head(listing: ObjectListing, rows: int) -> pd.DataFrame:
    if listing.folder:
        return _parquet_folder(listing.source, listing.fs, listing.root).head(rows).to_pandas(date_as_object=False)
    with listing.fs.open(listing.root, "rb") as file:
        metadata = pq.read_metadata(file)
        file.seek(0)
        text = text_columns(metadata.schema.to_arrow_schema())
        parquet = pq.ParquetFile(file, metadata=metadata, read_dictionary=text or None, pre_buffer=False)
        batch = next(parquet.iter_batches(batch_size=rows))
    return batches_frame([batch], batch.schema)


def _is_folder(source: ObjectReference, fs: Any, path: str) -> bool:
    return source.url.endswith("/") or bool(fs.isdir(path))


def _parquet_folder(source: ObjectReference, fs: Any, path: str) -> Any:
    """The pyarrow dataset of a folder of Parquet files partitioned Hive-style (files listed, none read)."""
    import pyarrow.dataset as pads

    dataset = pads.dataset(path.rstrip("/"), filesystem=fs, format="parquet", partitioning="hive")
    if not dataset.files:
        raise DatasetError(f"The folder {source.url!r} holds no Parquet files")
    return dataset


@contextlib.contextmanager
def _store_errors(source: ObjectReference) -> Iterator[None]:
    """The store's own errors (botocore, aiohttp, Arrow) as DatasetErrors naming the object."""
    try:
        yield
    except DatasetError:
        raise
    except FileNotFoundError:
        raise DatasetError(f"No object {source.url!r} (or it is empty)") from None
    except PermissionError as exc:
        raise DatasetError(f"Access to {source.url!r} was denied: {exc}") from None
    except Exception as exc:  # noqa: BLE001
        raise DatasetError(f"{source.url!r} could not be read: {type(exc).__name__}: {exc}") from None


def _filesystem(source: ObjectReference, storage_options: Mapping[str, Any] | None) -> tuple[Any, str]:
    import fsspec

    options = dict(object_storage_options(source.scheme) if storage_options is None else storage_options)
    try:
        fs, path = fsspec.core.url_to_fs(source.url, **options)
    except ImportError:
        package = _FSSPEC_PACKAGES.get(source.scheme, "its fsspec package")
        raise DatasetError(
            f"Dataset reference {source.url!r}: {source.scheme}:// needs the {package} package, "
            "which this server does not have"
        ) from None
    fs.invalidate_cache()  # fsspec keeps one instance per options, listings and all: a folder rewritten since is read anew
    return fs, path


def _read_parquet_folder(source: ObjectReference, fs: Any, path: str, limits: ReadLimits) -> pd.DataFrame:
    """A folder of Parquet files partitioned Hive-style; its row and column counts, from the
    files' footers, are checked against `limits` before any data is read."""
    dataset = _parquet_folder(source, fs, path)
    columns = len(dataset.schema)
    if columns > limits.max_columns:
        raise TableTooLarge(
            f"{source.url!r} has {columns:,} columns; the limit is {limits.max_columns:,} columns (upload_max_columns)",
            limit="columns", found=columns, cap=limits.max_columns,
        )
    rows = dataset.count_rows()
    if rows == 0:
        raise DatasetError(f"The folder {source.url!r} has no rows")
    if rows > limits.max_rows:
        raise TableTooLarge(
            f"{source.url!r} has {rows:,} rows; the limit is {limits.max_rows:,} rows (upload_max_rows)",
            limit="rows", found=rows, cap=limits.max_rows,
        )
    return dataset.to_table().to_pandas(date_as_object=False)
