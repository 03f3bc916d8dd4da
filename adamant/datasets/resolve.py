"""Turning a dataset reference (builtin:, dataset:, file:, s3:// gs:// az://) into a table, refusing
what is not allowed.

`file:` references name files on the server, so they are confined to the operator's allowed
roots: the path is URL-decoded once, refused if it holds a NUL byte, checked lexically (so a
missing file outside the roots is not told apart from an existing one), then resolved through
every symlink and checked again against each resolved root.

Object-store URIs are confined the same way to the prefixes an admin allows the tenant
(`dataset_prefixes`, such as "s3://acme-marketing/exports/"). The check is lexical and needs no
access to the store, so the service makes it at submit and the worker again when it reads: a
URI holding `.` or `..` segments, empty segments, percent-encoded slashes or dots, a query or a
fragment is refused outright (a store or a proxy on the way may normalise what we compared
literally), and a prefix always ends at a `/`, so "s3://acme-marketing/" never admits
"s3://acme-marketing-evil/". What passes is read through fsspec (s3fs for s3://, gcsfs for gs://,
adlfs for az://) with the operator's credentials from the usual environment (AWS_ACCESS_KEY_ID
...; ADAMANT_S3_ENDPOINT_URL for an S3-compatible server): a Parquet, CSV or .csv.gz object, or a
folder of Parquet files partitioned Hive-style (`month=may/part-0.parquet`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

import pandas as pd
import pyarrow.parquet as pq

from adamant.datasets.catalogue import BuiltinDataset, get_builtin
from adamant.datasets.parquet_parts import read_folder
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
from adamant.spec import DatasetSpec

OBJECT_STORE_SCHEMES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "hdfs", "http", "https", "ftp", "sftp"}
# The object stores a tenant's prefixes may name; each needs its fsspec package (s3fs is installed).
READABLE_SCHEMES = ("s3", "gs", "gcs", "az", "abfs", "abfss")
_FSSPEC_PACKAGES = {"s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs", "abfss": "adlfs"}
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.DOTALL)
# Percent-encoded slash, backslash, dot and NUL: fsspec reads keys literally, but a proxy or an
# S3-compatible server on the way may decode them into segments the prefix check never saw.
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c|2e|00)", re.IGNORECASE)

Uploads = Callable[[str], Path]


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


def load_dataset(
    spec: DatasetSpec,
    *,
    file_roots: Sequence[Path],
    uploads: Uploads | None = None,
    limits: ReadLimits = UNLIMITED,
    object_prefixes: Sequence[str] = (),
    storage_options: Mapping[str, Any] | None = None,
    on_rows: RowsCallback | None = None,
) -> pd.DataFrame:
    """The table `spec.ref` names, read with `spec.format` and `spec.delimiter` (files only),
    within `limits` (the service's read limits where a service process reads it).

    `object_prefixes` are the tenant's allowed object-store prefixes (none: every object-store
    URI is refused); `storage_options` go to fsspec (default: the settings', see
    `object_storage_options`). `on_rows` hears the read's progress as read_table tells it (a
    built-in table or a partitioned folder: once, when read)."""
    source = resolve_reference(spec.ref, file_roots=file_roots, uploads=uploads, object_prefixes=object_prefixes)
    if isinstance(source, BuiltinDataset):
        return _told(source.load(), on_rows)
    if isinstance(source, ObjectReference):
        return read_object(source, format=spec.format, delimiter=spec.delimiter, limits=limits,
                           storage_options=storage_options, on_rows=on_rows)
    if source.is_dir():
        return _told(read_folder(source, limits), on_rows)
    return read_table(source, format=spec.format, delimiter=spec.delimiter, limits=limits, on_rows=on_rows,
                      text_as_categories=True)


def _told(frame: pd.DataFrame, on_rows: RowsCallback | None) -> pd.DataFrame:
    if on_rows is not None:
        on_rows(len(frame), len(frame))
    return frame


def resolve_reference(
    ref: str,
    *,
    file_roots: Sequence[Path],
    uploads: Uploads | None = None,
    object_prefixes: Sequence[str] = (),
) -> BuiltinDataset | Path | ObjectReference:
    """The built-in dataset, the file or the object a reference names; DatasetError for anything else."""
    scheme, _, rest = ref.partition(":")
    scheme = scheme.strip().lower()
    if scheme == "builtin":
        return get_builtin(rest)
    if scheme == "dataset":
        return _uploaded(rest, uploads)
    if scheme == "file":
        return resolve_file(rest, file_roots)
    if scheme in OBJECT_STORE_SCHEMES or "://" in ref:
        return resolve_object(ref, object_prefixes)
    raise DatasetError(
        f"Unknown dataset reference {ref!r}; use builtin:<name>, dataset:<id> or file:<path> "
        "(or an s3://, gs://, az:// URI under the tenant's allowed prefixes)"
    )


def is_object_reference(ref: str) -> bool:
    """Whether `ref` names an object store (or any URL): what `resolve_object` decides on."""
    return ref.partition(":")[0].strip().lower() in OBJECT_STORE_SCHEMES or "://" in ref


def resolve_object(ref: str, object_prefixes: Sequence[str]) -> ObjectReference:
    """The object-store URI `ref`, checked against the tenant's prefixes without touching the store:
    DatasetError naming the reference when it is malformed or outside every prefix."""
    url = normalise_object_uri(ref)
    prefixes = [normalise_object_prefix(prefix) for prefix in object_prefixes]
    if not prefixes:
        raise DatasetError(
            f"Dataset reference {ref!r} is outside the tenant's allowed prefixes: object-store references are not "
            "enabled for this tenant (an admin allows them with the tenant's dataset_prefixes)"
        )
    folder_form = url.rstrip("/") + "/"  # "s3://b/exports" names the folder the prefix "s3://b/exports/" is
    if not any(folder_form.startswith(prefix) for prefix in prefixes):
        raise DatasetError(
            f"Dataset reference {ref!r} is outside the tenant's allowed prefixes ({', '.join(prefixes)})"
        )
    return ObjectReference(url)


def normalise_object_uri(ref: str) -> str:
    """`ref` as "scheme://bucket/key" with the scheme in lower case; DatasetError when it is not a
    plain object-store URI (see the module's docstring for what is refused, and why)."""
    match = _URI.match(ref.strip())
    if match is None:
        raise DatasetError(f"Dataset reference {ref!r} is not an object-store URI (scheme://bucket/key)")
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme not in READABLE_SCHEMES:
        raise DatasetError(
            f"Dataset reference {ref!r}: object-store references are not enabled for {scheme}://; "
            f"use {', '.join(s + '://' for s in READABLE_SCHEMES)}, an upload (dataset:<id>) or a builtin: dataset"
        )
    if any(ord(char) < 32 or char in "\\\x7f" for char in rest):
        raise DatasetError(f"Dataset reference {ref!r} holds a control character or a backslash")
    if "?" in rest or "#" in rest:
        raise DatasetError(f"Dataset reference {ref!r} holds a query or a fragment ('?' or '#'); name the object alone")
    if _ENCODED_SEPARATOR.search(rest):
        raise DatasetError(f"Dataset reference {ref!r} holds a percent-encoded '/', '\\', '.' or NUL; write it plainly")
    bucket, _, key = rest.partition("/")
    if not bucket or bucket in (".", ".."):
        raise DatasetError(f"Dataset reference {ref!r} names no bucket")
    segments = key.split("/")
    if segments and segments[-1] == "":
        segments = segments[:-1]  # a trailing '/': a folder
    for segment in segments:
        if segment in ("", ".", ".."):
            what = "an empty segment ('//')" if segment == "" else f"a {segment!r} segment"
            raise DatasetError(f"Dataset reference {ref!r} holds {what}; name the object by its plain path")
    return f"{scheme}://{rest}"


def normalise_object_prefix(prefix: str) -> str:
    """An allowed prefix as compared: a normalised URI ending in '/', so it matches whole segments only."""
    url = normalise_object_uri(prefix)
    return url if url.endswith("/") else url + "/"


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
            return _told(_read_parquet_folder(source, fs, path, limits), on_rows)
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


def object_parquet_rows(
    source: ObjectReference, format: str = "auto", storage_options: Mapping[str, Any] | None = None
) -> int | None:
    """The rows of a Parquet object, or of a folder of them, from the footers (a few ranged reads
    a file, never a whole object); None for an object of another format."""
    fs, path = _filesystem(source, storage_options)
    with _store_errors(source):
        if format not in ("auto", "parquet"):
            return None
        if _is_folder(source, fs, path):
            return _parquet_folder(source, fs, path).count_rows()
        with fs.open(path, "rb") as file:
            if file.read(len(PARQUET_MAGIC)) != PARQUET_MAGIC:
                return None
            file.seek(0)
            return pq.ParquetFile(file).metadata.num_rows


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
    total = object_parquet_rows(source, format, storage_options)
    fs, path = _filesystem(source, storage_options)
    with _store_errors(source):
        if total is not None:
            if total <= rows:
                return None
            return _parquet_head(source, fs, path, rows), total, "from the footers"
        size = fs.size(path)
        if size is None or size <= text_bytes or source.name.lower().endswith(".gz"):
            return None
        with fs.open(path, "rb") as file:
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


def _parquet_head(source: ObjectReference, fs: Any, path: str, rows: int) -> pd.DataFrame:
    if _is_folder(source, fs, path):
        return _parquet_folder(source, fs, path).head(rows).to_pandas(date_as_object=False)
    with fs.open(path, "rb") as file:
        metadata = pq.read_metadata(file)
        file.seek(0)
        text = text_columns(metadata.schema.to_arrow_schema())
        parquet = pq.ParquetFile(file, metadata=metadata, read_dictionary=text or None, pre_buffer=False)
        batch = next(parquet.iter_batches(batch_size=rows))
    return batches_frame([batch], batch.schema)


def object_version(source: ObjectReference, storage_options: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """What identifies this version of an object's bytes, from the store's metadata alone (S3's
    ETag, GCS's md5Hash or generation, Azure's etag; with its size), or None when the store says
    nothing that changes with the content. A folder's is every Parquet file's (path, size, version),
    as one sha256, None if any file has no version."""
    fs, path = _filesystem(source, storage_options)
    with _store_errors(source):
        if not _is_folder(source, fs, path):
            return _version(source.url, fs.info(path))
        listed = fs.find(path.rstrip("/"), detail=True)  # one listing: S3 lists each key's ETag
        files = []
        for file in sorted(_parquet_folder(source, fs, path).files):
            version = _version(file, listed.get(file) or fs.info(file))
            if version is None:
                return None
            files.append(version)
    listing = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    return {"url": source.url, "files": len(files), "listing_sha256": listing}


def _version(url: str, info: Mapping[str, Any]) -> dict[str, Any] | None:
    version = {key: str(info[key]) for key in ("ETag", "etag", "md5Hash", "generation", "VersionId") if info.get(key)}
    return {"url": url, "size": info.get("size"), **version} if version else None


def download_object(source: ObjectReference, destination: Path, storage_options: Mapping[str, Any] | None = None) -> None:
    """Copy a single object to the local file `destination`, or a folder's Parquet files into the
    local folder `destination` at their paths under it (partition folders kept), streamed by fsspec
    and never held in memory."""
    fs, path = _filesystem(source, storage_options)
    with _store_errors(source):
        if not _is_folder(source, fs, path):
            fs.get_file(path, str(destination))
            return
        root = path.rstrip("/")
        for file in _parquet_folder(source, fs, path).files:
            local = destination / PurePosixPath(file).relative_to(root)
            local.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(file, str(local))


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


def resolve_file(location: str, file_roots: Sequence[Path]) -> Path:
    """The regular file, or the folder of Hive-partitioned Parquet files, that `location` (the part
    after `file:`) names under one of `file_roots`."""
    if location.startswith("//"):  # file://host/path: only this machine
        host, _, location = location[2:].partition("/")
        if host not in ("", "localhost"):
            raise DatasetError(f"file: references name files on this server, not on host {unquote(host)!r}")
        location = "/" + location
    path_text = unquote(location)
    if "\x00" in path_text:
        raise DatasetError("File reference contains a NUL byte")
    if not path_text.strip():
        raise DatasetError("File reference names no path; use file:<path under an allowed root>")
    if not file_roots:
        raise DatasetError("file: references are not enabled on this server (no allowed roots configured)")

    outside = DatasetError(f"File {path_text!r} is outside the allowed roots")
    path = Path(path_text)
    lexically_inside = False
    for root in file_roots:
        root = Path(root).absolute()
        candidate = path if path.is_absolute() else root / path
        if not _within(Path(os.path.normpath(candidate)), [root, root.resolve()]):
            continue
        lexically_inside = True
        try:
            resolved = candidate.resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except (OSError, RuntimeError):  # a symlink loop, a permission problem
            continue
        if not _within(resolved, [root.resolve()]):
            raise outside  # a symlink that leads out of the root
        if resolved.is_dir():
            if not any(resolved.rglob("*.parquet")):
                raise DatasetError(f"The folder {path_text!r} holds no Parquet files (a folder reference names a "
                                   "table of Hive-partitioned Parquet files)")
            return resolved
        if not resolved.is_file():
            raise DatasetError(f"File reference {path_text!r} is not a regular file")
        return resolved
    if not lexically_inside:
        raise outside
    raise DatasetError(f"No file {path_text!r} under the allowed roots")


def _within(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _uploaded(dataset_id: str, uploads: Uploads | None) -> Path:
    if not dataset_id.strip():
        raise DatasetError("Dataset reference names no upload; use dataset:<id>")
    if uploads is None:
        raise DatasetError(f"Uploaded datasets are not available here (dataset:{dataset_id})")
    try:
        return Path(uploads(dataset_id))
    except (KeyError, FileNotFoundError):
        raise DatasetError(f"No uploaded dataset {dataset_id!r}") from None
