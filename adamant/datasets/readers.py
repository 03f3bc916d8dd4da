"""Reading a user's table from disk: CSV with any delimiter, whitespace-separated text, Parquet.

Every problem a user can fix becomes a DatasetError saying what is wrong and where. Rows are
numbered as a spreadsheet user counts data rows: row 1 is the first row after the header (the
first line of a file without a header), and blank lines are not counted. The rest of the
project (column checks, preprocessing) uses the same numbering: row = position in the table + 1.

Types are inferred here, once, and the same way for every text format: a column is numeric when
every non-missing value is a number, boolean when every value is true/false, and text otherwise.
Zero-padded codes ("00001") and integers longer than 15 digits stay text, because turning them
into numbers would lose what identifies the customer.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from adamant.exceptions import DatasetError

Format = Literal["auto", "csv", "whitespace", "parquet"]

DELIMITERS = (",", ";", "\t", "|")
SNIFF_CHARS = 64 * 1024
SNIFF_RECORDS = 100
PARQUET_MAGIC = b"PAR1"
ROW_CONVENTION = "rows count from 1 at the first row after the header"

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_INTEGER = r"[+-]?\d+"
# More digits than a float64 holds exactly: an account number, not a quantity.
_MAX_NUMERIC_DIGITS = 15


def read_table(
    path: str | Path,
    format: Format = "auto",
    delimiter: str | None = None,
    *,
    header: bool | None = None,
) -> pd.DataFrame:
    """Read a table from a file the user named or uploaded.

    `header=None` (what DatasetSpec users get) decides from the first row: it is a header
    unless one of its fields is a number. Columns of a file without a header are named
    column_1, column_2, ... (1-based, like rows).
    """
    path = Path(path)
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
        return _read_parquet(path)
    if magic == PARQUET_MAGIC:
        raise DatasetError(f"{name!r} is a Parquet file; set dataset.format to 'parquet' or 'auto'")
    text = _decode(path.read_bytes(), name)
    return _read_text(text, name, format, delimiter, header)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{path.name!r} could not be opened as Parquet: {exc}") from None
    if table.num_columns == 0:
        raise DatasetError(f"{path.name!r} has no columns")
    if table.num_rows == 0:
        raise DatasetError(f"{path.name!r} has no rows")
    return table.to_pandas(date_as_object=False)


def _decode(raw: bytes, name: str) -> str:
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DatasetError(f"{name!r} looks gzip-compressed but could not be decompressed: {exc}") from None
    if not raw:
        raise DatasetError(f"{name!r} is empty (0 bytes): it has no rows")
    if raw[:4] == b"PK\x03\x04":
        raise DatasetError(
            f"{name!r} is a zip archive (an Excel .xlsx workbook is one); export the sheet as CSV or Parquet"
        )
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise DatasetError(f"{name!r} starts like UTF-16 text but could not be decoded") from None
    if b"\x00" in raw[:SNIFF_CHARS]:
        raise DatasetError(
            f"{name!r} contains NUL bytes: it looks like a binary file, not text; "
            "send CSV, whitespace-separated text or Parquet"
        )
    # UTF-8 first (with or without a byte-order mark); then Windows-1252, which is what
    # spreadsheets on Windows write; Latin-1 maps every byte, so it is the last resort.
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")


def _read_text(text: str, name: str, format: Format, delimiter: str | None, header: bool | None) -> pd.DataFrame:
    if not text.strip():
        raise DatasetError(f"{name!r} has only blank lines: it has no rows")
    sample = _sample(text)
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

    records = _whitespace_records(text) if whitespace else _csv_records(text, delimiter)
    first, _ = next(records, ([], 0))
    if header is None:
        # Column names are words: a number in the first row means it is already data.
        header = not any(re.fullmatch(_NUMBER, field.strip()) for field in first)
    names = _column_names(first, header, name)
    if len(names) == 1:
        splitter = "whitespace" if whitespace else f"the delimiter {delimiter!r}"
        raise DatasetError(
            f"{name!r} has only one column: {splitter} does not split its first row; set dataset.delimiter"
        )
    rows = _check_field_counts(records, len(names), name, header)
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


def _csv_records(text: str, delimiter: str) -> Iterator[tuple[list[str], int]]:
    """Non-blank records with the file line each ends on (a quoted field may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', doublequote=True)
    for fields in reader:
        # pandas skips the same lines: empty ones and ones holding only spaces.
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        yield fields, reader.line_num


def _whitespace_records(text: str) -> Iterator[tuple[list[str], int]]:
    for line_number, line in enumerate(text.splitlines(), start=1):
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


def _check_field_counts(records: Iterator[tuple[list[str], int]], expected: int, name: str, header: bool) -> int:
    """Count the data rows, refusing the first whose field count differs from the header's."""
    reference = "the header has" if header else "the first row has"
    row = 0 if header else 1
    try:
        for fields, line in records:
            row += 1
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
    values = pc.utf8_trim_whitespace(pa.array(column, type=pa.string()))
    values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    present = values.drop_null()
    if len(present) == 0:
        return pd.Series(float("nan"), index=column.index, dtype="float64", name=column.name)
    if pc.all(pc.match_substring_regex(present, f"^{_NUMBER}$")).as_py():
        integers = pc.all(pc.match_substring_regex(present, f"^{_INTEGER}$")).as_py()
        zero_padded = pc.any(pc.match_substring_regex(present, r"^[+-]?0\d")).as_py()
        too_long = pc.max(pc.utf8_length(present)).as_py() > _MAX_NUMERIC_DIGITS
        if not (integers and (zero_padded or too_long)):
            try:
                numbers = pc.cast(values, pa.int64() if integers else pa.float64())
            except pa.ArrowInvalid:
                numbers = pc.cast(values, pa.float64())
            return pd.Series(numbers.to_numpy(zero_copy_only=False), index=column.index, name=column.name)
    lowered = pc.utf8_lower(present)
    if len(present) == len(values) and pc.all(pc.is_in(lowered, pa.array(["true", "false"]))).as_py():
        flags = pc.equal(pc.utf8_lower(values), "true").to_numpy(zero_copy_only=False)
        return pd.Series(flags, index=column.index, name=column.name)
    return pd.Series(pd.array(values, dtype="str"), index=column.index, name=column.name)
