"""A Parquet table to stream: one file, or a local folder of Parquet files partitioned Hive-style
(`month=may/part-0.parquet`: a `file:` reference to a folder, or an object-store folder as the
worker copies it); read_folder reads such a folder whole, in the same row order.

A folder's rows are its files' rows in the order pyarrow's discovery lists the files (sorted
paths), each file's own rows in order, so a row's number, and with it the hashed split of a
streamed job, is a function of the folder's content. The partition keys become columns typed as
pyarrow's Hive discovery types them (whole numbers int32, else text), as a job that reads the
folder whole sees them. Every batch is cast to the folder's schema (that of its first file plus
the keys), so files written with a narrower type (int32 where the first has int64) join.

Files are read with ParquetFile.iter_batches(pre_buffer=False), one at a time, rather than
Dataset.to_batches: both hold one batch, but only the first is known not to accumulate what it
read (apache/arrow#39808; readers.parquet_batches).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads

from adamant.datasets.readers import (
    UNLIMITED,
    Format,
    ReadLimits,
    TableTooLarge,
    _open_parquet,
    parquet_batches,
    parquet_rows,
    text_columns,
)
from adamant.exceptions import DatasetError


@dataclass(frozen=True)
class _Part:
    path: Path
    keys: dict[str, object]  # partition key -> this file's value


@dataclass(frozen=True)
class _Folder:
    parts: list[_Part]
    schema: pa.Schema  # every column as a batch carries it (text as dictionaries), the keys last


def table_rows(path: Path, format: Format = "auto") -> int | None:
    """The rows of a Parquet file, or of every Parquet file in a folder, from their footers; None
    for a file of another format (DatasetError for a folder that holds no Parquet file)."""
    if not path.is_dir():
        return parquet_rows(path, format)
    return sum(_open_parquet(part.path, UNLIMITED).metadata.num_rows for part in _discover(path).parts)


def table_batches(path: Path, *, columns: list[str] | None = None, batch_rows: int = 1_000_000) -> Iterator[pa.RecordBatch]:
    """A file's or a folder's rows in order, at most `batch_rows` at a time, text dictionary-encoded
    (readers.parquet_batches); a folder's batches carry its partition keys and one schema."""
    if not path.is_dir():
        yield from parquet_batches(path, columns=columns, batch_rows=batch_rows)
        return
    folder = _discover(path)
    wanted = folder.schema if columns is None else pa.schema([folder.schema.field(name) for name in columns])
    for part in folder.parts:
        stored = [name for name in wanted.names if name not in part.keys]
        for batch in parquet_batches(part.path, columns=stored, batch_rows=batch_rows):
            yield _with_keys(batch, part, wanted)


def read_folder(folder: Path, limits: ReadLimits = UNLIMITED, *, max_rows: int | None = None) -> pd.DataFrame:
    """A local folder of Hive-partitioned Parquet files as one frame (text as categories, as
    read_table reads text), in table_batches' row order, so reading it whole and streaming it see
    the same row numbers; its rows and columns, from the footers, checked against `limits` first.
    With `max_rows`, only its first rows (a dry run's head)."""
    found = _discover(folder)
    if len(found.schema) > limits.max_columns:
        raise TableTooLarge(f"{folder.name!r} has {len(found.schema):,} columns; the limit is {limits.max_columns:,} "
                            "columns (upload_max_columns)", limit="columns", found=len(found.schema), cap=limits.max_columns)
    rows = table_rows(folder)
    if not rows:
        raise DatasetError(f"The folder {folder.name!r} has no rows")
    if rows > limits.max_rows and max_rows is None:
        raise TableTooLarge(f"{folder.name!r} has {rows:,} rows; the limit is {limits.max_rows:,} rows (upload_max_rows)",
                            limit="rows", found=rows, cap=limits.max_rows)
    batches, held = [], 0
    for batch in table_batches(folder):
        if max_rows is not None and held + batch.num_rows > max_rows:
            batch = batch.slice(0, max_rows - held)
        batches.append(batch)
        held += batch.num_rows
        if max_rows is not None and held >= max_rows:
            break
    table = pa.Table.from_batches(batches, schema=found.schema).unify_dictionaries()
    return table.to_pandas(date_as_object=False)


def _with_keys(batch: pa.RecordBatch, part: _Part, schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for field in schema:
        if field.name in part.keys:
            arrays.append(_constant(part.keys[field.name], batch.num_rows, field.type))
        else:
            arrays.append(batch.column(field.name))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)  # casts a column of a narrower type


def _constant(value: object, rows: int, kind: pa.DataType) -> pa.Array:
    if pa.types.is_dictionary(kind):
        indices = pa.array(np.zeros(rows, dtype=np.int32) if value is not None else [None] * rows, type=kind.index_type)
        return pa.DictionaryArray.from_arrays(indices, pa.array([value], type=kind.value_type))
    return pa.array([value] * rows, type=kind)


def _discover(folder: Path) -> _Folder:
    try:
        dataset = pads.dataset(str(folder), format="parquet", partitioning="hive")
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"The folder {folder.name!r} could not be read as Parquet: {exc}") from None
    fragments = sorted(dataset.get_fragments(), key=lambda fragment: fragment.path)
    if not fragments:
        raise DatasetError(f"The folder {folder.name!r} holds no Parquet files")
    keys = list(dataset.partitioning.schema.names) if dataset.partitioning is not None else []
    parts = []
    for fragment in fragments:  # a file outside any key's folder has no value for it: null, as discovery reads it
        found = pads.get_partition_keys(fragment.partition_expression)
        parts.append(_Part(Path(fragment.path), {name: found.get(name) for name in keys}))
    ordered = [f for f in dataset.schema if f.name not in keys] + [dataset.schema.field(name) for name in keys]
    text = set(text_columns(dataset.schema))
    fields = [pa.field(f.name, pa.dictionary(pa.int32(), f.type) if f.name in text else f.type) for f in ordered]
    return _Folder(parts, pa.schema(fields))

