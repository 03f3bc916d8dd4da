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

import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pandas as pd

from adamant.datasets.catalogue import BuiltinDataset, get_builtin
from adamant.datasets.object_store import ObjectReference, read_object
from adamant.datasets.parquet_parts import read_folder
from adamant.datasets.readers import UNLIMITED, ReadLimits, RowsCallback, read_table
from adamant.exceptions import DatasetError
from adamant.spec import DatasetSpec

OBJECT_STORE_SCHEMES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "hdfs", "http", "https", "ftp", "sftp"}
# The object stores a tenant's prefixes may name; each needs its fsspec package (s3fs is installed).
READABLE_SCHEMES = ("s3", "gs", "gcs", "az", "abfs", "abfss")
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.DOTALL)
# Percent-encoded slash, backslash, dot and NUL: fsspec reads keys literally, but a proxy or an
# S3-compatible server on the way may decode them into segments the prefix check never saw.
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c|2e|00)", re.IGNORECASE)

Uploads = Callable[[str], Path]


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
