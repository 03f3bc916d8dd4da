"""Reading a user's table from disk: CSV with any delimiter, whitespace-separated text, Parquet.

Every problem a user can fix becomes a DatasetError saying what is wrong and where. Rows are
numbered as a spreadsheet user counts data rows: row 1 is the first row after the header (the
first line of a file without a header), and blank lines are not counted. The rest of the
project (column checks, preprocessing) uses the same numbering: row = position in the table + 1.

Types are inferred here, once, and the same way for every text format: a column is numeric when
every non-missing value is a number, boolean when every value is true/false, and text otherwise.
Zero-padded codes ("00001") and integers longer than 15 digits stay text, because turning them
into numbers would lose what identifies the customer.

A delimited UTF-8 file read without limits (a job's table) goes through pyarrow's multi-threaded
CSV reader first (`_read_csv_with_arrow`): every cell as text, then typed column by column by the
same rules; a file that reader cannot take as it is (gzip, another encoding, whitespace-separated,
a malformed row) goes the careful way, which names the problem's row. Both give the same frame
(tests/adamant/datasets/test_csv_arrow.py); the Arrow way holds ~the file's size in Arrow text
rather than the whole text plus object columns (1M rows of a 24-column table: 3.2 s and 0.58 GB
against 11.3 s and 1.87 GB).

Size: a small file can unpack to a huge table (a 240 KB gzip CSV to 4.5M rows, a 262 KB Parquet
file to 30M rows, a 4.8 MB line to 2.4M columns), so every read is bounded by ReadLimits while
it reads: decompressed bytes are counted as they come out of gzip, the columns of the first
line are counted before any parsing, Parquet's footer (rows, columns, unpacked bytes) is
checked before any data is read, and rows are counted as they stream. `inspect_table` is
what the service uses on an upload: one streaming pass that checks every row and keeps only
the first rows for the schema and preview, so the whole table is never in memory.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, TextIO

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from adamant.datasets.text_kinds import NUMBER, cleaned, kind_of, typed_arrow
from adamant.exceptions import DatasetError

Format = Literal["auto", "csv", "whitespace", "parquet"]

DELIMITERS = (",", ";", "\t", "|")
SNIFF_CHARS = 64 * 1024
SNIFF_RECORDS = 100
PARQUET_MAGIC = b"PAR1"
ROW_CONVENTION = "rows count from 1 at the first row after the header"
CSV_BLOCK_BYTES = 16 << 20  # the Arrow CSV path's blocks: a record batch (and a progress report) each
# What pandas.read_csv reads as missing by default (keep_default_na), for the Arrow CSV path.
_NA_TEXT = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
            "NA", "NULL", "NaN", "None", "n/a", "nan", "null")

CHUNK = 1 << 20
# What inspect_table keeps for the schema and preview: the first rows, up to either bound.
SAMPLE_ROWS = 50_000
SAMPLE_CHARS = 16 * 1024 * 1024
# A first line longer than this is counted by its delimiters only (parsing it would cost more).
_PARSE_WIDE_LINE_CHARS = 4 * 1024 * 1024
# on_rows: how often a text read reports the rows it has checked (seconds, and rows between clock reads).
ROWS_REPORT_S = 0.5
_ROWS_BETWEEN_CLOCK_READS = 4096

# on_rows(rows read so far, total rows or None when not known yet): a read's progress.
RowsCallback = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ReadLimits:
    """How large a table may unpack to; a read stops with TableTooLarge at the first one passed.

    The defaults are the settings' (ADAMANT_UPLOAD_MAX_DECOMPRESSED_BYTES, _ROWS, _COLUMNS)."""

    max_decompressed_bytes: int = 2 * 1024**3
    max_rows: int = 20_000_000
    max_columns: int = 2_000


# read_table's default: training reads what the operator's `file:` roots and the built-ins hold
# as they are; uploads were checked against the service's limits when they arrived.
UNLIMITED = ReadLimits(max_decompressed_bytes=2**63 - 1, max_rows=2**63 - 1, max_columns=2**63 - 1)


class TableTooLarge(DatasetError):
    """A table past one of ReadLimits: `limit` names which, `found` how much (at least), `cap` the limit."""

    kind = "table_too_large"

    def __init__(self, message: str, *, limit: str, found: int, cap: int) -> None:
        super().__init__(message)
        self.limit, self.found, self.cap = limit, found, cap

    def to_dict(self) -> dict[str, object]:
        return super().to_dict() | {"limit": self.limit, "found": self.found, "cap": self.cap}


@dataclass
class TableInspection:
    """An upload, read once from end to end: its size and a typed sample of its first rows."""

    rows: int
    columns: int
    sample: pd.DataFrame


def read_table(
    path: str | Path,
    format: Format = "auto",
    delimiter: str | None = None,
    *,
    header: bool | None = None,
    limits: ReadLimits = UNLIMITED,
    on_rows: RowsCallback | None = None,
    text_as_categories: bool = False,
) -> pd.DataFrame:
    """Read a table from a file the user named or uploaded, whole, within `limits` (none by default).

    `text_as_categories` reads a Parquet file's text columns as pandas categoricals, straight
    from the file's dictionary pages: an int code a row instead of a string (a 10M-row customer
    table with 13 text columns: 2.65 -> ~1 GB, and matching levels costs a pass over codes).
    Jobs read this way (load_dataset); an upload's schema and preview keep plain text.

    `header=None` (what DatasetSpec users get) decides from the first row: it is a header
    unless one of its fields is a number. Columns of a file without a header are named
    column_1, column_2, ... (1-based, like rows).

    `on_rows(rows, total)` hears how far the read is: Parquet after each row group, with the
    footer's exact total; text every ROWS_REPORT_S while its rows are checked, with a total
    estimated from the lines the text holds (a blank line or a quoted line break makes it
    approximate), then once more with the exact count when the table is built. What is returned
    is the same with or without it.
    """
    path = Path(path)
    name = path.name
    if _is_parquet(path, format):
        parquet = _open_parquet(path, limits, text_as_categories=text_as_categories)
        try:
            table = parquet.read() if on_rows is None else _read_row_groups(parquet, on_rows)
        except (pa.ArrowException, OSError) as exc:
            raise DatasetError(f"{name!r} could not be read as Parquet: {exc}") from None
        # Column by column, each Arrow column freed once converted: the peak is ~1x the table, not 2x.
        frame = table.to_pandas(date_as_object=False, split_blocks=True, self_destruct=True)
        del table
        # Arrow's allocator (mimalloc) keeps what the table held resident until asked: 1.3 GB at 10M rows.
        pa.default_memory_pool().release_unused()
        return frame
    if limits == UNLIMITED:
        frame = _read_csv_with_arrow(path, format, delimiter, header, on_rows, text_as_categories)
        if frame is not None:
            return frame
    if on_rows is not None:
        on_rows(0, None)
    with _open_binary(path, limits) as stream:
        raw = stream.read()
    text = _decode(raw, name)
    frame = _read_text(text, name, format, delimiter, header, limits, on_rows)
    if on_rows is not None:
        on_rows(len(frame), len(frame))
    return frame


def parquet_rows(path: str | Path, format: Format = "auto") -> int | None:
    """The rows a Parquet file holds, from its footer alone; None for any other format."""
    path = Path(path)
    if not _is_parquet(path, format):
        return None
    return _open_parquet(path, UNLIMITED).metadata.num_rows


def parquet_batches(
    path: str | Path, *, columns: list[str] | None = None, batch_rows: int = 1_000_000
) -> Iterator[pa.RecordBatch]:
    """A Parquet file's rows in order, `batch_rows` at a time, text columns dictionary-encoded
    (as `read_table(..., text_as_categories=True)` reads them): one batch in memory at a time."""
    path = Path(path)
    parquet = _open_parquet(path, UNLIMITED, text_as_categories=True, pre_buffer=False)
    try:
        yield from parquet.iter_batches(batch_size=batch_rows, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{path.name!r} could not be read as Parquet: {exc}") from None


def parquet_head(path: str | Path, rows: int) -> pd.DataFrame:
    """The first `rows` rows of a Parquet file, read as `read_table(..., text_as_categories=True)` reads all."""
    batch = next(parquet_batches(path, batch_rows=rows))
    return batches_frame([batch], batch.schema)


def batches_frame(batches: list[pa.RecordBatch], schema: pa.Schema) -> pd.DataFrame:
    """Record batches as one pandas frame, converted as `read_table` converts a whole file
    (dictionary text as categoricals over one set of levels)."""
    table = pa.Table.from_batches(batches, schema=schema).unify_dictionaries()
    return table.to_pandas(date_as_object=False, split_blocks=True, self_destruct=True)


def _read_row_groups(parquet: pq.ParquetFile, on_rows: RowsCallback) -> pa.Table:
    """The whole file, as parquet.read() gives it, one row group at a time so progress can be told."""
    total = parquet.metadata.num_rows
    on_rows(0, total)
    groups, rows = [], 0
    for group in range(parquet.metadata.num_row_groups):
        groups.append(parquet.read_row_group(group))
        rows += groups[-1].num_rows
        on_rows(rows, total)
    return pa.concat_tables(groups)


def inspect_table(
    path: str | Path,
    format: Format = "auto",
    delimiter: str | None = None,
    *,
    header: bool | None = None,
    limits: ReadLimits = ReadLimits(),
    sample_rows: int = SAMPLE_ROWS,
) -> TableInspection:
    """Read a table once, as read_table would, without holding it: the row and column counts and
    a sample of the first `sample_rows` rows typed as read_table types them.

    Every row is checked (a file read_table would refuse is refused here, naming the row), but
    only the sample is kept, so memory stays bounded whatever the file unpacks to."""
    path = Path(path)
    name = path.name
    if _is_parquet(path, format):
        return _inspect_parquet(path, limits, sample_rows)
    with _open_binary(path, limits) as stream:
        head = stream.read(SNIFF_CHARS)
    encodings = _check_head(head, name)
    for encoding in encodings:
        try:
            return _inspect_text(path, name, encoding, format, delimiter, header, limits, sample_rows)
        except UnicodeDecodeError:
            continue  # not this encoding after all, further in: read it again with the next one
    raise AssertionError("latin-1 decodes every byte")


def check_table_width(path: str | Path, format: Format = "auto", delimiter: str | None = None, *,
                      limits: ReadLimits = ReadLimits()) -> None:
    """Refuse a table wider than `limits.max_columns` by its first line (or Parquet footer) alone.

    Cheap whatever the file holds (the first line is counted in chunks, never parsed whole), so
    the service can answer a very wide upload at once, before handing the full read elsewhere."""
    path = Path(path)
    if _is_parquet(path, format):
        _open_parquet(path, limits)
        return
    with _open_binary(path, limits) as stream:
        head = stream.read(SNIFF_CHARS)
    # Delimiters are ASCII in every encoding tried: a byte that is not UTF-8 changes no count.
    encoding = _check_head(head, path.name)[0]
    with _open_text(path, limits, encoding, errors="replace") as text:
        sample = _sample(text.read(SNIFF_CHARS))
    if not sample.strip():
        return  # the full read says what is wrong with it
    whitespace, delimiter = _splitter(sample, path.name, format, delimiter)
    with _open_text(path, limits, encoding, errors="replace") as text:
        width = _first_line_width(text, whitespace, delimiter)
    _check_width(width, path.name, whitespace, delimiter, limits)


def _is_parquet(path: Path, format: Format) -> bool:
    name = path.name
    try:
        with path.open("rb") as file:
            magic = file.read(4)
    except FileNotFoundError:
        raise DatasetError(f"File {name!r} does not exist") from None
    except IsADirectoryError:
        raise DatasetError(f"{name!r} is a directory, not a file") from None
    except OSError as exc:
        raise DatasetError(f"File {name!r} could not be read: {exc.strerror}") from None
    if format == "parquet" or (format == "auto" and magic == PARQUET_MAGIC):
        return True
    if magic == PARQUET_MAGIC:
        raise DatasetError(f"{name!r} is a Parquet file; set dataset.format to 'parquet' or 'auto'")
    return False


def _open_parquet(
    path: Path, limits: ReadLimits, *, text_as_categories: bool = False, pre_buffer: bool = True
) -> pq.ParquetFile:
    """The Parquet file, its footer checked against `limits` before any data is read. Reading it in
    batches wants `pre_buffer=False`: with it, iter_batches keeps every byte range it read (pyarrow
    26: ~50 MB a million rows of the benchmark's table, the whole file by the end)."""
    name = path.name
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{name!r} could not be opened as Parquet: {exc}") from None
    metadata = parquet.metadata
    columns = len(parquet.schema_arrow)
    if columns == 0:
        raise DatasetError(f"{name!r} has no columns")
    if columns > limits.max_columns:
        raise _too_many_columns(name, columns, limits)
    if metadata.num_rows == 0:
        raise DatasetError(f"{name!r} has no rows")
    if metadata.num_rows > limits.max_rows:
        raise _too_many_rows(name, metadata.num_rows, limits, exact=True)
    unpacked = _parquet_unpacked_bytes(parquet)
    if unpacked > limits.max_decompressed_bytes:
        raise TableTooLarge(
            f"{name!r} unpacks to at least {unpacked:,} bytes; the limit is {limits.max_decompressed_bytes:,} "
            "(upload_max_decompressed_bytes)",
            limit="decompressed_bytes", found=unpacked, cap=limits.max_decompressed_bytes,
        )
    text = text_columns(parquet.schema_arrow)
    if (text_as_categories and text) or not pre_buffer:
        parquet = pq.ParquetFile(path, read_dictionary=text if text_as_categories and text else None, pre_buffer=pre_buffer)
    return parquet


def text_columns(schema: pa.Schema) -> list[str]:
    """The columns read as dictionary-encoded text (categoricals) when text is read as categories."""
    return [field.name for field in schema if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)]


def _parquet_unpacked_bytes(parquet: pq.ParquetFile) -> int:
    """A lower bound of the bytes the table takes once read, from the footer alone.

    Parquet's own sizes are of encoded pages (a run of 30M equal numbers encodes to a few
    bytes), so fixed-width columns count rows x width, and the others their decoded pages."""
    metadata = parquet.metadata
    decoded: Counter[str] = Counter()
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for column in range(row_group.num_columns):
            chunk = row_group.column(column)
            decoded[chunk.path_in_schema.split(".")[0]] += chunk.total_uncompressed_size
    total = 0
    for field in parquet.schema_arrow:
        try:
            total += metadata.num_rows * (field.type.bit_width // 8)
        except ValueError:  # strings, lists, structs: no fixed width
            total += decoded[field.name]
    return total


def _inspect_parquet(path: Path, limits: ReadLimits, sample_rows: int) -> TableInspection:
    parquet = _open_parquet(path, limits)
    kept: list[pa.RecordBatch] = []
    sampled = rows = 0
    try:
        # Every row group is decoded (a file the trainer could not read is refused now), one
        # batch at a time; only the first batches are kept.
        for batch in parquet.iter_batches(batch_size=max(1, min(sample_rows, 64 * 1024))):
            rows += batch.num_rows
            if sampled < sample_rows:
                kept.append(batch.slice(0, sample_rows - sampled))
                sampled += kept[-1].num_rows
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{path.name!r} could not be read as Parquet: {exc}") from None
    sample = pa.Table.from_batches(kept, schema=parquet.schema_arrow).to_pandas(date_as_object=False)
    return TableInspection(rows=rows, columns=len(parquet.schema_arrow), sample=sample)


def _inspect_text(
    path: Path, name: str, encoding: str, format: Format, delimiter: str | None, header: bool | None,
    limits: ReadLimits, sample_rows: int,
) -> TableInspection:
    with _open_text(path, limits, encoding) as text:
        sample = _sample(text.read(SNIFF_CHARS))
    if not sample.strip():
        raise DatasetError(f"{name!r} has only blank lines: it has no rows")
    whitespace, delimiter = _splitter(sample, name, format, delimiter)
    with _open_text(path, limits, encoding) as text:
        _check_width(_first_line_width(text, whitespace, delimiter), name, whitespace, delimiter, limits)
    with _open_text(path, limits, encoding) as text:
        tap = _LineTap(text)
        records = _whitespace_records(tap) if whitespace else _csv_records(tap, delimiter)  # type: ignore[arg-type]
        first, _ = next(records, ([], 0))
        header = _has_header(first) if header is None else header
        names = _column_names(first, header, name)
        _check_several_columns(names, name, whitespace, delimiter)
        rows = _check_field_counts(_sampling(records, tap, sample_rows), len(names), name, header, limits)
    if rows == 0 and header:
        raise DatasetError(f"{name!r} has a header but no rows")
    kept = _read_text("".join(tap.kept), name, "whitespace" if whitespace else "csv", delimiter, header, limits)
    return TableInspection(rows=rows, columns=len(names), sample=kept)


class _LineTap:
    """The lines of a text stream, keeping a copy of each while `keeping` (the sample's text)."""

    def __init__(self, text: TextIO) -> None:
        self.text = text
        self.kept: list[str] = []
        self.kept_chars = 0
        self.keeping = True

    def __iter__(self) -> Iterator[str]:
        for line in self.text:
            if self.keeping:
                self.kept.append(line)
                self.kept_chars += len(line)
            yield line


def _sampling(
    records: Iterator[tuple[list[str], int]], tap: _LineTap, sample_rows: int
) -> Iterator[tuple[list[str], int]]:
    """The records, telling the tap to stop keeping lines once the sample is big enough."""
    for number, record in enumerate(records, start=1):
        if number >= sample_rows or tap.kept_chars >= SAMPLE_CHARS:
            tap.keeping = False
        yield record


class _CappedStream(io.RawIOBase):
    """A file's bytes (gunzipped when it is gzip), refused past `cap` bytes as they come out."""

    def __init__(self, file: BinaryIO, name: str, cap: int) -> None:
        self.file = file
        self.compressed = file.read(2) == b"\x1f\x8b"
        file.seek(0)
        self.source: BinaryIO = gzip.GzipFile(fileobj=file, mode="rb") if self.compressed else file  # type: ignore[assignment]
        self.name_ = name
        self.cap = cap
        self.total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            count = self.source.readinto(buffer)  # type: ignore[attr-defined]
        except (OSError, EOFError, zlib.error) as exc:
            if self.compressed:
                raise DatasetError(f"{self.name_!r} looks gzip-compressed but could not be decompressed: {exc}") from None
            raise DatasetError(f"File {self.name_!r} could not be read: {exc}") from None
        self.total += count
        if self.total > self.cap:
            unpacked = "decompresses to" if self.compressed else "holds"
            raise TableTooLarge(
                f"{self.name_!r} {unpacked} more than {self.cap:,} bytes; the limit is {self.cap:,} "
                "(upload_max_decompressed_bytes)",
                limit="decompressed_bytes", found=self.total, cap=self.cap,
            )
        return count

    def close(self) -> None:
        if not self.closed:
            self.source.close()
            self.file.close()
        super().close()


def _open_binary(path: Path, limits: ReadLimits) -> io.BufferedReader:
    try:
        file = path.open("rb")
    except OSError as exc:
        raise DatasetError(f"File {path.name!r} could not be read: {exc.strerror}") from None
    return io.BufferedReader(_CappedStream(file, path.name, limits.max_decompressed_bytes), buffer_size=CHUNK)


def _open_text(path: Path, limits: ReadLimits, encoding: str, errors: str = "strict") -> io.TextIOWrapper:
    # newline="": the csv module sees line ends as they are (a quoted field may hold one).
    return io.TextIOWrapper(_open_binary(path, limits), encoding=encoding, errors=errors, newline="")


def _check_head(head: bytes, name: str) -> list[str]:
    """Refuse what is not text by its first bytes; the encodings to try, in order."""
    if not head:
        raise DatasetError(f"{name!r} is empty (0 bytes): it has no rows")
    if head[:4] == b"PK\x03\x04":
        raise DatasetError(
            f"{name!r} is a zip archive (an Excel .xlsx workbook is one); export the sheet as CSV or Parquet"
        )
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return ["utf-16"]
    if b"\x00" in head[:SNIFF_CHARS]:
        raise DatasetError(
            f"{name!r} contains NUL bytes: it looks like a binary file, not text; "
            "send CSV, whitespace-separated text or Parquet"
        )
    # UTF-8 first (with or without a byte-order mark); then Windows-1252, which is what
    # spreadsheets on Windows write; Latin-1 maps every byte, so it is the last resort.
    return ["utf-8-sig", "cp1252", "latin-1"]


def _decode(raw: bytes, name: str) -> str:
    for encoding in _check_head(raw, name):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            if encoding == "utf-16":
                raise DatasetError(f"{name!r} starts like UTF-16 text but could not be decoded") from None
            continue
    raise AssertionError("latin-1 decodes every byte")


def _splitter(sample: str, name: str, format: Format, delimiter: str | None) -> tuple[bool, str | None]:
    """(whitespace-separated?, the delimiter otherwise), from the first rows."""
    whitespace = format == "whitespace"
    if not whitespace and delimiter is None:
        delimiter = sniff_delimiter(sample)
        if delimiter is None:
            if format == "auto" and _splits_rows(_whitespace_records(sample)):
                whitespace = True
            else:
                raise DatasetError(
                    f"{name!r} has only one column: no delimiter among , ; tab | separates its first rows "
                    "consistently; set dataset.delimiter (or dataset.format 'whitespace')"
                )
    return whitespace, delimiter


def _first_line_width(text: TextIO, whitespace: bool, delimiter: str | None) -> int:
    """How many fields the first non-blank line splits into, read in chunks, never whole.

    Counting delimiters overcounts a quoted name holding one, so a line short enough to parse
    is parsed; a line longer than that is a table far wider than any cap anyway."""
    kept: list[str] = []
    length = fields = 0
    word_open = False  # whitespace: the previous chunk ended inside a word
    for part in _first_line_parts(text):
        length += len(part)
        if length <= _PARSE_WIDE_LINE_CHARS:
            kept.append(part)
        if whitespace:
            fields += len(part.split()) - (1 if word_open and not part[0].isspace() else 0)
            word_open = not part[-1].isspace()
        else:
            fields += part.count(delimiter or ",")
    if whitespace:
        return fields
    if length <= _PARSE_WIDE_LINE_CHARS:
        parsed = next(_csv_records("".join(kept), delimiter or ","), None)
        return len(parsed[0]) if parsed else 0
    return fields + 1


def _first_line_parts(text: TextIO) -> Iterator[str]:
    """The first non-blank line of a text stream, in pieces of at most CHUNK characters."""
    started = False
    while chunk := text.read(CHUNK):
        while chunk:
            end = min((i for i in (chunk.find("\n"), chunk.find("\r")) if i >= 0), default=-1)
            part = chunk if end < 0 else chunk[:end]
            if started or part.strip():
                started = True
                if part:
                    yield part
                if end >= 0:
                    return
                break  # the line goes on in the next chunk
            if end < 0:
                break
            chunk = chunk[end + 1:]  # a blank line: look at the next


def _check_width(width: int, name: str, whitespace: bool, delimiter: str | None, limits: ReadLimits) -> None:
    if width > limits.max_columns:
        raise _too_many_columns(name, width, limits, "whitespace" if whitespace else f"{delimiter!r}")


def _too_many_columns(name: str, columns: int, limits: ReadLimits, splitter: str | None = None) -> TableTooLarge:
    where = f" (its first line, split by {splitter})" if splitter else ""
    return TableTooLarge(
        f"{name!r} has {columns:,} columns{where}; the limit is {limits.max_columns:,} columns (upload_max_columns)",
        limit="columns", found=columns, cap=limits.max_columns,
    )


def _too_many_rows(name: str, rows: int, limits: ReadLimits, *, exact: bool = False) -> TableTooLarge:
    count = f"{rows:,}" if exact else f"more than {limits.max_rows:,}"
    return TableTooLarge(
        f"{name!r} has {count} rows; the limit is {limits.max_rows:,} rows (upload_max_rows)",
        limit="rows", found=rows, cap=limits.max_rows,
    )


def _has_header(first: list[str]) -> bool:
    # Column names are words: a number in the first row means it is already data.
    return not any(re.fullmatch(NUMBER, field.strip()) for field in first)


def _check_several_columns(names: list[str], name: str, whitespace: bool, delimiter: str | None) -> None:
    if len(names) == 1:
        splitter = "whitespace" if whitespace else f"the delimiter {delimiter!r}"
        raise DatasetError(
            f"{name!r} has only one column: {splitter} does not split its first row; set dataset.delimiter"
        )


def _read_text(
    text: str, name: str, format: Format, delimiter: str | None, header: bool | None, limits: ReadLimits,
    on_rows: RowsCallback | None = None,
) -> pd.DataFrame:
    if not text.strip():
        raise DatasetError(f"{name!r} has only blank lines: it has no rows")
    whitespace, delimiter = _splitter(_sample(text), name, format, delimiter)
    _check_width(_first_line_width(io.StringIO(text, newline=""), whitespace, delimiter), name, whitespace, delimiter, limits)

    records = _whitespace_records(text) if whitespace else _csv_records(text, delimiter)  # type: ignore[arg-type]
    first, _ = next(records, ([], 0))
    header = _has_header(first) if header is None else header
    names = _column_names(first, header, name)
    _check_several_columns(names, name, whitespace, delimiter)
    if on_rows is not None:
        records = _reporting_rows(records, on_rows, _estimated_rows(text, header), before=0 if header else 1)
    rows = _check_field_counts(records, len(names), name, header, limits)
    if rows == 0 and header:
        raise DatasetError(f"{name!r} has a header but no rows")

    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=r"\s+" if whitespace else delimiter,
            header=0 if header else None,
            names=names,
            dtype=str,
            keep_default_na=True,
            skip_blank_lines=True,
            quotechar='"',
            engine="c",
        )
    except (pd.errors.ParserError, ValueError) as exc:
        kind = "whitespace-separated text" if whitespace else "CSV"
        raise DatasetError(f"{name!r} could not be parsed as {kind}: {exc}") from None
    return pd.DataFrame({column: _typed(frame[column]) for column in frame.columns})


def csv_head(path: str | Path, rows: int, format: Format = "auto", delimiter: str | None = None) -> tuple[pd.DataFrame, int] | None:
    """(the first `rows` rows of a delimited UTF-8 file, typed by them alone; the file's rows,
    estimated from its size when it holds more), or None for a file the Arrow path leaves to the
    careful one (read_table then reads it whole)."""
    told: list[int] = []
    frame = _read_csv_with_arrow(Path(path), format, delimiter, None, lambda _, total: told.append(total or 0),
                                 False, max_rows=rows)
    return None if frame is None else (frame, told[-1] if told else len(frame))


def _read_csv_with_arrow(
    path: Path, format: Format, delimiter: str | None, header: bool | None, on_rows: RowsCallback | None,
    text_as_categories: bool, max_rows: int | None = None,
) -> pd.DataFrame | None:
    """A delimited UTF-8 file read by pyarrow's multi-threaded CSV reader, typed as `_read_text`
    types it; None when the file needs the careful path (gzip, another encoding or a byte-order
    mark, whitespace-separated, or any row pyarrow finds malformed: `_read_text` then names it).

    The careful path holds the whole text, checks every row in Python and builds object columns:
    ~50 bytes a cell. This one holds Arrow text (~the file's size) and types a column at a time."""
    layout = arrow_csv_layout(path, format, delimiter, header)
    if layout is None:
        return None
    table = _arrow_csv_table(path, layout, on_rows, max_rows)
    if table is None:
        return None
    if layout.header and table.num_rows == 0:
        return None  # the careful path words this error
    index = pd.RangeIndex(table.num_rows)
    columns = {name: table.column(name) for name in layout.names}
    del table
    typed = {}
    for name in layout.names:  # a column's text is let go once it is typed
        typed[name] = _typed_values(columns.pop(name), index, name, categories=text_as_categories)
    return pd.DataFrame(typed)


@dataclass(frozen=True)
class ArrowCsvLayout:
    """How pyarrow's CSV reader reads a file: its column names, header, delimiter, the bytes a row
    takes in its first lines, and the bytes of text the file holds (for estimates of its rows: a
    gzip file's estimated from how much its head unpacks to)."""

    names: list[str]
    header: bool
    delimiter: str
    bytes_per_row: float
    text_bytes: int
    gzip: bool

    @property
    def rows_estimate(self) -> int:
        return max(1, round(self.text_bytes / self.bytes_per_row))


def arrow_csv_layout(
    path: Path, format: Format | str, delimiter: str | None, header: bool | None, *, gzip_ok: bool = False
) -> ArrowCsvLayout | None:
    """The layout of a delimited UTF-8 file, sniffed from its first SNIFF_CHARS bytes; None for a file
    the Arrow reader leaves to the careful path (gzip unless `gzip_ok`, another encoding or a
    byte-order mark, whitespace-separated, empty); a DatasetError for a head the careful path would refuse too."""
    try:
        head, text_bytes, is_gzip = _text_head(path, gzip_ok)
    except (OSError, zlib.error, EOFError):
        return None
    if not head or head[:2] == b"\x1f\x8b" or head[:3] == b"\xef\xbb\xbf" or _check_head(head, path.name) != ["utf-8-sig", "cp1252", "latin-1"]:
        return None
    try:
        sample = _sample(head.decode("utf-8") if len(head) < SNIFF_CHARS else head[: head.rfind(b"\n") + 1].decode("utf-8"))
    except UnicodeDecodeError:
        return None
    if not sample.strip():
        return None
    whitespace, delimiter = _splitter(sample, path.name, format, delimiter)  # type: ignore[arg-type]
    if whitespace or delimiter is None:
        return None
    first, _ = next(_csv_records(sample, delimiter), ([], 0))
    header = _has_header(first) if header is None else header
    names = _column_names(first, header, path.name)
    _check_several_columns(names, path.name, whitespace, delimiter)
    return ArrowCsvLayout(names, header, delimiter, len(sample) / max(sample.count("\n"), 1), text_bytes, is_gzip)


def _text_head(path: Path, gzip_ok: bool) -> tuple[bytes, int, bool]:
    """(the first SNIFF_CHARS bytes of text, the bytes of text the file holds, whether it is gzip):
    a gzip file's head unpacked when `gzip_ok`, its text size its size times what the head unpacked to."""
    size = path.stat().st_size
    with path.open("rb") as file:
        raw = file.read(SNIFF_CHARS if not gzip_ok else 1 << 20)
    if not (gzip_ok and raw[:2] == b"\x1f\x8b"):
        return raw[:SNIFF_CHARS], size, False
    unpacker = zlib.decompressobj(wbits=31)  # gzip framing
    head = unpacker.decompress(raw, SNIFF_CHARS)
    used = len(raw) - len(unpacker.unconsumed_tail) - len(unpacker.unused_data)
    return head, round(size * len(head) / max(used, 1)), True


def arrow_csv_options(layout: ArrowCsvLayout, on_invalid: Callable[[pacsv.InvalidRow], str],
                      block_bytes: int | None = None) -> dict[str, object]:
    """pacsv.open_csv's options for a file of `layout`: every column as text, pandas' missing
    markers as missing, `on_invalid` told of each malformed row ("skip" or "error"); blocks of
    `block_bytes` (CSV_BLOCK_BYTES, read when called)."""
    return {
        "read_options": pacsv.ReadOptions(column_names=layout.names, skip_rows=1 if layout.header else 0,
                                          block_size=block_bytes or CSV_BLOCK_BYTES),
        "parse_options": pacsv.ParseOptions(delimiter=layout.delimiter, quote_char='"', double_quote=True,
                                            newlines_in_values=True, invalid_row_handler=on_invalid),
        "convert_options": pacsv.ConvertOptions(column_types={name: pa.string() for name in layout.names}, strings_can_be_null=True,
                                                null_values=list(_NA_TEXT), quoted_strings_can_be_null=True),
    }


def _arrow_csv_table(path: Path, layout: ArrowCsvLayout, on_rows: RowsCallback | None, max_rows: int | None = None) -> pa.Table | None:
    """The file's rows as Arrow text (the first `max_rows` only, when given: on_rows then ends
    with the estimated total rather than the count); None when a row is malformed."""
    malformed: list[object] = []

    def refuse(row: object) -> str:
        malformed.append(row)
        return "skip"

    options = arrow_csv_options(layout, refuse)
    estimate = layout.rows_estimate
    batches: list[pa.RecordBatch] = []
    rows = 0
    try:
        with pacsv.open_csv(path, **options) as reader:
            if on_rows is not None:
                on_rows(0, estimate)
            for batch in reader:
                if malformed:
                    return None
                batches.append(batch)
                rows += batch.num_rows
                if on_rows is not None:
                    on_rows(rows, max(estimate, rows))
                if max_rows is not None and rows >= max_rows:
                    return None if malformed else pa.Table.from_batches(batches, schema=reader.schema).slice(0, max_rows)
            schema = reader.schema
    except (pa.ArrowException, OSError):
        return None
    if malformed:
        return None
    if on_rows is not None:
        on_rows(rows, rows)
    return pa.Table.from_batches(batches, schema=schema)


def _estimated_rows(text: str, header: bool) -> int:
    """The data rows a text probably holds: its lines, less the header (a last line without an end counts)."""
    lines = text.count("\n") + (0 if text.endswith(("\n", "\r")) else 1)
    if "\n" not in text:
        lines = text.count("\r") + (0 if text.endswith("\r") else 1)  # old Mac line ends
    return max(0, lines - (1 if header else 0))


def _reporting_rows(
    records: Iterator[tuple[list[str], int]], on_rows: RowsCallback, estimate: int, *, before: int
) -> Iterator[tuple[list[str], int]]:
    """`records` as they are, telling on_rows how many data rows went by (`before` of them already) every
    ROWS_REPORT_S."""
    last = time.monotonic()
    for count, record in enumerate(records, start=before + 1):
        yield record
        if count % _ROWS_BETWEEN_CLOCK_READS == 0 and time.monotonic() - last >= ROWS_REPORT_S:
            last = time.monotonic()
            on_rows(count, max(estimate, count))


def _sample(text: str) -> str:
    if len(text) <= SNIFF_CHARS:
        return text
    cut = text.rfind("\n", 0, SNIFF_CHARS)
    return text[: cut if cut > 0 else SNIFF_CHARS]


def sniff_delimiter(sample: str) -> str | None:
    """The delimiter that splits most of the sample's rows into the same number (>= 2) of fields.

    csv.Sniffer's guess is taken when it passes that check; otherwise the candidate that agrees
    on the most rows wins, then the one giving the most fields. A ragged row here and there does
    not hide the delimiter: the full read names it instead. None when no candidate qualifies.
    """
    try:
        guess = csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        guess = None
    if guess in DELIMITERS and _splits_rows(_csv_records(sample, guess)):
        return guess
    scores = {candidate: _field_agreement(_csv_records(sample, candidate)) for candidate in DELIMITERS}
    qualified = [candidate for candidate in DELIMITERS if _qualifies(scores[candidate])]
    if not qualified:
        return None
    return max(qualified, key=lambda candidate: (scores[candidate][1], scores[candidate][0]))


def _splits_rows(records: Iterator[tuple[list[str], int]]) -> bool:
    return _qualifies(_field_agreement(records))


def _qualifies(score: tuple[int, float]) -> bool:
    fields, share = score
    return fields > 1 and share > 0.5


def _field_agreement(records: Iterator[tuple[list[str], int]]) -> tuple[int, float]:
    """The most common field count among the sampled records and the share of records having it."""
    counts: Counter[int] = Counter()
    try:
        for number, (fields, _) in enumerate(records):
            if number >= SNIFF_RECORDS:
                break
            counts[len(fields)] += 1
    except csv.Error:
        return 0, 0.0
    if not counts:
        return 0, 0.0
    fields, agreeing = counts.most_common(1)[0]
    return fields, agreeing / sum(counts.values())


def _csv_records(text: str | Iterable[str], delimiter: str) -> Iterator[tuple[list[str], int]]:
    """Non-blank records with the file line each ends on (a quoted field may span lines).

    `text` is the whole text, or its lines as they stream (ends kept, as newline="" reads them)."""
    lines = io.StringIO(text, newline="") if isinstance(text, str) else text
    reader = csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True)
    for fields in reader:
        # pandas skips the same lines: empty ones and ones holding only spaces.
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        yield fields, reader.line_num


def _whitespace_records(text: str | Iterable[str]) -> Iterator[tuple[list[str], int]]:
    lines = text.splitlines() if isinstance(text, str) else text
    for line_number, line in enumerate(lines, start=1):
        fields = line.split()
        if fields:
            yield fields, line_number


def _column_names(first: list[str], header: bool, name: str) -> list[str]:
    if not header:
        return [f"column_{position}" for position in range(1, len(first) + 1)]
    names = [field.strip() or f"column_{position}" for position, field in enumerate(first, start=1)]
    seen: dict[str, int] = {}
    for position, column in enumerate(names, start=1):
        if column in seen:
            raise DatasetError(
                f"{name!r} names column {column!r} twice (header positions {seen[column]} and {position}); "
                "rename one",
                column=column,
            )
        seen[column] = position
    return names


def _check_field_counts(
    records: Iterator[tuple[list[str], int]], expected: int, name: str, header: bool, limits: ReadLimits
) -> int:
    """Count the data rows, refusing the first whose field count differs from the header's and
    stopping at the first row past `limits.max_rows`."""
    reference = "the header has" if header else "the first row has"
    row = 0 if header else 1
    try:
        for fields, line in records:
            row += 1
            if row > limits.max_rows:
                raise _too_many_rows(name, row, limits)
            if len(fields) != expected:
                raise DatasetError(
                    f"{name!r} is malformed: data row {row} (file line {line}) has {len(fields)} fields but "
                    f"{reference} {expected} ({ROW_CONVENTION}); check for a stray delimiter or quote",
                    row=row,
                )
    except csv.Error as exc:
        raise DatasetError(f"{name!r} is malformed after data row {row}: {exc}", row=row + 1) from None
    return row


def _typed(column: pd.Series) -> pd.Series:
    """A text column as numbers or booleans when every value is one, else as trimmed text."""
    return _typed_values(pa.array(column, type=pa.string()), column.index, column.name)


def _typed_values(
    text: pa.Array | pa.ChunkedArray, index: pd.Index, name: object, *, categories: bool = False
) -> pd.Series:
    """`_typed` on Arrow text (the rule: adamant/datasets/text_kinds.py); with `categories`, a
    text column comes back as a pandas categorical."""
    values = cleaned(text)
    kind = kind_of(values)
    if kind == "empty":
        return pd.Series(float("nan"), index=index, dtype="float64", name=name)
    if kind != "text":
        return pd.Series(typed_arrow(values, kind).to_numpy(zero_copy_only=False), index=index, name=name)
    if categories:
        encoded = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        return pd.Series(encoded.dictionary_encode().to_pandas(), index=index, name=name)
    return pd.Series(pd.array(values.to_numpy(zero_copy_only=False), dtype="str"), index=index, name=name)
