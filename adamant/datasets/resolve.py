"""Turning a dataset reference (builtin:, dataset:, file:) into a table, refusing what is not allowed.

`file:` references name files on the server, so they are confined to the operator's allowed
roots: the path is URL-decoded once, refused if it holds a NUL byte, checked lexically (so a
missing file outside the roots is not told apart from an existing one), then resolved through
every symlink and checked again against each resolved root. Object-store URIs are refused until
the object-store reader exists.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import unquote

import pandas as pd

from adamant.datasets.catalogue import BuiltinDataset, get_builtin
from adamant.datasets.readers import UNLIMITED, ReadLimits, read_table
from adamant.exceptions import DatasetError
from adamant.spec import DatasetSpec

OBJECT_STORE_SCHEMES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "hdfs", "http", "https", "ftp", "sftp"}

Uploads = Callable[[str], Path]


def load_dataset(
    spec: DatasetSpec,
    *,
    file_roots: Sequence[Path],
    uploads: Uploads | None = None,
    limits: ReadLimits = UNLIMITED,
) -> pd.DataFrame:
    """The table `spec.ref` names, read with `spec.format` and `spec.delimiter` (files only),
    within `limits` (the service's read limits where a service process reads it)."""
    source = resolve_reference(spec.ref, file_roots=file_roots, uploads=uploads)
    if isinstance(source, BuiltinDataset):
        return source.load()
    return read_table(source, format=spec.format, delimiter=spec.delimiter, limits=limits)


def resolve_reference(
    ref: str,
    *,
    file_roots: Sequence[Path],
    uploads: Uploads | None = None,
) -> BuiltinDataset | Path:
    """The built-in dataset or the file a reference names; DatasetError for anything else."""
    scheme, _, rest = ref.partition(":")
    scheme = scheme.strip().lower()
    if scheme == "builtin":
        return get_builtin(rest)
    if scheme == "dataset":
        return _uploaded(rest, uploads)
    if scheme == "file":
        return resolve_file(rest, file_roots)
    if scheme in OBJECT_STORE_SCHEMES or "://" in ref:
        raise DatasetError(
            f"Dataset reference {ref!r}: object-store references are not enabled on this server; "
            "upload the file (dataset:<id>) or use a builtin: dataset"
        )
    raise DatasetError(f"Unknown dataset reference {ref!r}; use builtin:<name>, dataset:<id> or file:<path>")


def resolve_file(location: str, file_roots: Sequence[Path]) -> Path:
    """The regular file that `location` (the part after `file:`) names under one of `file_roots`."""
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
