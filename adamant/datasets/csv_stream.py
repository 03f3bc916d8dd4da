"""A delimited file too large to read whole, rewritten as Parquet in two streaming passes, so the
streamed preparation (adamant/preparation/streamed.py) can read it by record batches.

Pass one reads the file's text block by block and gathers, per column, the facts that decide its
kind (adamant/datasets/text_kinds.py: the rule read_table applies to a whole column); pass two
reads it again, types each block by those kinds and appends it to a Parquet file, text
dictionary-encoded. Memory holds a block or two (readers.CSV_BLOCK_BYTES of text), never the
table, and the columns come out typed as read_table would type them. A malformed row stops the
conversion with a DatasetError naming it (read_table's careful path would name it too, but
needs the whole text in memory). A gzip file streams the same way, unpacked as it is read (each
pass unpacks it again); its rows are estimated from how much its head unpacks to. Files the Arrow
CSV reader leaves to the careful path (another encoding, whitespace-separated) are not streamed:
`csv_rows_estimate` says None.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from adamant.datasets.prefetch import prefetched
from adamant.datasets.readers import (
    PARQUET_MAGIC,
    ROW_CONVENTION,
    ArrowCsvLayout,
    RowsCallback,
    arrow_csv_layout,
    arrow_csv_options,
)
from adamant.datasets.text_kinds import Kind, TextKind, cleaned, typed_arrow
from adamant.exceptions import DatasetError


def csv_rows_estimate(path: Path, format: str = "auto", delimiter: str | None = None) -> int | None:
    """About how many data rows a delimited UTF-8 file (or a gzip one) holds (its text's size over its
    first lines' bytes per row), or None for a file the Arrow CSV reader does not take (Parquet included)."""
    if path.is_dir() or format == "parquet":
        return None
    try:
        with path.open("rb") as file:
            if file.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC:
                return None
        layout = arrow_csv_layout(path, format, delimiter, None, gzip_ok=True)
    except (OSError, DatasetError):  # reading the table whole says what is wrong with it
        return None
    return None if layout is None else layout.rows_estimate


def convert_csv(path: Path, out: Path, format: str = "auto", delimiter: str | None = None,
                on_rows: RowsCallback | None = None, block_bytes: int | None = None) -> Path:
    """Write the delimited file `path` as the Parquet file `out` (see the module), a row group per
    block of `block_bytes` (readers.CSV_BLOCK_BYTES); `on_rows` hears both passes' rows, as 2 x the rows in all."""
    layout = arrow_csv_layout(path, format, delimiter, None, gzip_ok=True)
    if layout is None:
        raise DatasetError(f"{path.name!r} is not a UTF-8 delimited file the streaming reader takes (another "
                           "encoding and whitespace-separated text are read whole)")
    estimate = layout.rows_estimate
    facts = {name: TextKind() for name in layout.names}
    rows = 0
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # Arrow's kernels let go of the GIL
        for batch in prefetched(_blocks(path, layout, block_bytes)):  # the next block parsed meanwhile
            rows += batch.num_rows
            list(pool.map(lambda name, b=batch: facts[name].update(cleaned(b.column(name))), layout.names))
            if on_rows is not None:
                on_rows(rows, max(2 * estimate, rows))
    if rows == 0:
        raise DatasetError(f"{path.name!r} has no rows")
    kinds = {name: fact.decide() for name, fact in facts.items()}
    schema = pa.schema([(name, _arrow_type(kinds[name])) for name in layout.names])
    out.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with pq.ParquetWriter(out, schema) as writer, ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for batch in prefetched(_blocks(path, layout, block_bytes)):
            columns = list(pool.map(lambda name, b=batch: _typed_column(cleaned(b.column(name)), kinds[name]), layout.names))
            writer.write_batch(pa.record_batch(columns, schema=schema))
            written += batch.num_rows
            if on_rows is not None:
                on_rows(rows + written, 2 * rows)
    return out


def _arrow_type(kind: Kind) -> pa.DataType:
    return {"empty": pa.float64(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}.get(
        kind, pa.dictionary(pa.int32(), pa.string()))


def _typed_column(values: pa.Array, kind: Kind) -> pa.Array:
    typed = typed_arrow(values, kind)
    return typed.dictionary_encode() if kind == "text" else typed


def _blocks(path: Path, layout: ArrowCsvLayout, block_bytes: int | None) -> Iterator[pa.RecordBatch]:
    """The file's blocks as record batches of text; a malformed row is a DatasetError naming it."""
    bad: list[pacsv.InvalidRow] = []

    def refuse(row: pacsv.InvalidRow) -> str:
        bad.append(row)
        return "error"

    rows = 0
    try:
        source = pa.input_stream(str(path), compression="gzip" if layout.gzip else None)
        with source, pacsv.open_csv(source, **arrow_csv_options(layout, refuse, block_bytes)) as reader:
            for batch in reader:
                rows += batch.num_rows
                yield batch
    except (pa.ArrowInvalid, OSError) as exc:  # OSError: a gzip stream cut short, a read that failed
        if bad:
            row = bad[0]
            where = f"at row {row.number - (1 if layout.header else 0)} ({ROW_CONVENTION})" if row.number else f"after row {rows}"
            raise DatasetError(f"{path.name!r} has a malformed row {where}: {row.actual_columns} fields where the header has "
                               f"{row.expected_columns}", row=row.number) from None
        raise DatasetError(f"{path.name!r} could not be read as CSV after row {rows}: {exc}") from None
