import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adamant.datasets.catalogue import BANK_MARKETING_FILE
from adamant.datasets.cdnow import CDNOW_FILE
from adamant.datasets.readers import read_table
from adamant.exceptions import DatasetError

ROWS = [("alice", 34, 120.5, "yes"), ("bob", 51, 80.0, "no"), ("carol", 29, 310.25, "yes")]


def write_rows(path: Path, delimiter: str, *, quote: bool = False) -> Path:
    def cell(value: object) -> str:
        return f'"{value}"' if quote and isinstance(value, str) else str(value)

    lines = [delimiter.join(cell(name) for name in ("name", "age", "spend", "bought"))]
    lines += [delimiter.join(cell(value) for value in row) for row in ROWS]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("delimiter", [",", "\t", "|", ";"], ids=["comma", "tab", "pipe", "semicolon"])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    frame = read_table(write_rows(tmp_path / "customers.csv", delimiter))

    assert list(frame.columns) == ["name", "age", "spend", "bought"]
    assert frame["name"].tolist() == ["alice", "bob", "carol"]
    assert frame["age"].dtype == np.int64
    assert frame["spend"].tolist() == [120.5, 80.0, 310.25]


def test_quoted_semicolon_csv_parses(tmp_path: Path) -> None:
    frame = read_table(write_rows(tmp_path / "quoted.csv", ";", quote=True))

    assert list(frame.columns) == ["name", "age", "spend", "bought"]
    assert frame["bought"].tolist() == ["yes", "no", "yes"]


def test_bank_marketing_file_parses_with_types() -> None:
    frame = read_table(BANK_MARKETING_FILE)

    assert frame.shape == (41_188, 21)
    assert frame.columns[0] == "age" and frame.columns[-1] == "y"
    assert frame["job"].iloc[0] == "housemaid"  # quotes stripped
    assert frame["pdays"].dtype == np.int64
    assert frame["euribor3m"].dtype == np.float64
    assert frame["y"].value_counts().to_dict() == {"no": 36_548, "yes": 4_640}


def test_cdnow_whitespace_file_keeps_zero_padded_ids() -> None:
    frame = read_table(CDNOW_FILE)

    assert frame.shape == (69_659, 4)
    assert list(frame.columns) == ["customer_id", "date", "number_of_cds", "dollar_value"]
    assert frame["customer_id"].iloc[0] == "00001"
    assert frame["date"].iloc[0] == 19970101


def test_whitespace_text_with_leading_spaces(tmp_path: Path) -> None:
    path = tmp_path / "spaced.txt"
    path.write_text(" id    visits  spend\n 007   3   12.50\n 012  11    4.00\n")

    frame = read_table(path, format="whitespace")

    assert frame.to_dict("list") == {"id": ["007", "012"], "visits": [3, 11], "spend": [12.5, 4.0]}


def test_parquet_round_trip(tmp_path: Path) -> None:
    original = pd.DataFrame(
        {
            "customer_id": ["a1", "a2", "a3"],
            "spend": [1.5, None, 3.0],
            "visits": [1, 2, 3],
            "joined": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]),
        }
    )
    path = tmp_path / "customers.data"  # no extension: recognised by its magic bytes
    pq.write_table(pa.Table.from_pandas(original, preserve_index=False), path)

    frame = read_table(path)

    pd.testing.assert_frame_equal(frame, original, check_dtype=False)


def test_header_less_numeric_file_gets_numbered_columns(tmp_path: Path) -> None:
    path = tmp_path / "ratings.tsv"
    path.write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")

    frame = read_table(path)

    assert list(frame.columns) == ["column_1", "column_2", "column_3", "column_4"]
    assert frame["column_1"].tolist() == [196, 186]


def test_latin1_file_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "villes.csv"
    path.write_bytes("ville;clients\nMünchen;3\nSão Paulo;5\n".encode("latin-1"))

    assert read_table(path)["ville"].tolist() == ["München", "São Paulo"]


def test_gzip_file_is_decompressed(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv.gz"
    path.write_bytes(gzip.compress(write_rows(tmp_path / "plain.csv", ",").read_bytes()))

    assert read_table(path).shape == (3, 4)


def test_blank_and_booleans_are_typed(tmp_path: Path) -> None:
    path = tmp_path / "flags.csv"
    path.write_text("opted_in,score\nTrue,1.5\nfalse,\n\nTRUE,2\n")

    frame = read_table(path)

    assert frame["opted_in"].tolist() == [True, False, True]
    assert frame["score"].isna().tolist() == [False, True, False]


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")

    with pytest.raises(DatasetError, match=r"'empty.csv' is empty \(0 bytes\): it has no rows"):
        read_table(path)


def test_header_only_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("name,age,spend\n")

    with pytest.raises(DatasetError, match="'header.csv' has a header but no rows"):
        read_table(path)


def test_ragged_row_is_named(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("name,age,spend\nalice,34,1.5\nbob,51\ncarol,29,3.5\n")

    with pytest.raises(DatasetError) as caught:
        read_table(path)

    assert caught.value.row == 2
    assert "data row 2 (file line 3) has 2 fields but the header has 3" in str(caught.value)
    assert "rows count from 1 at the first row after the header" in str(caught.value)


def test_row_with_extra_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "extra.csv"
    path.write_text("name,age\nalice,34\nbob,51\ncarol,29,oops\n")

    with pytest.raises(DatasetError, match=r"data row 3 \(file line 4\) has 3 fields but the header has 2"):
        read_table(path)


def test_one_column_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "names.csv"
    path.write_text("name\nalice\nbob\n")

    with pytest.raises(DatasetError, match="'names.csv' has only one column"):
        read_table(path)


def test_wrong_delimiter_is_refused(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "commas.csv", ",")

    with pytest.raises(DatasetError, match="only one column: the delimiter ';' does not split its first row"):
        read_table(path, delimiter=";")


def test_duplicate_column_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("age,spend,age\n1,2,3\n")

    with pytest.raises(DatasetError, match=r"names column 'age' twice \(header positions 1 and 3\)"):
        read_table(path)


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "blob.csv"
    path.write_bytes(b"\x01\x02\x00\x00\xff" * 20)

    with pytest.raises(DatasetError, match="contains NUL bytes: it looks like a binary file"):
        read_table(path)


def test_excel_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "customers.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\x14" * 40)

    with pytest.raises(DatasetError, match="export the sheet as CSV or Parquet"):
        read_table(path)


def test_broken_parquet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")

    with pytest.raises(DatasetError, match="'broken.parquet' could not be opened as Parquet"):
        read_table(path)


def test_empty_parquet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"spend": pa.array([], pa.float64())}), path)

    with pytest.raises(DatasetError, match="'empty.parquet' has no rows"):
        read_table(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="File 'absent.csv' does not exist"):
        read_table(tmp_path / "absent.csv")


def test_parquet_batches_hold_one_batch_at_a_time_not_the_file(tmp_path: Path) -> None:
    # With pyarrow's default pre_buffer, iter_batches keeps every byte range it has read: by the
    # last batch, the whole file (a 100M-row table's 7 GB). A streamed preparation reads this way.
    from adamant.datasets.readers import batches_frame, parquet_batches

    rng = np.random.default_rng(0)
    rows = 1_000_000
    table = pa.table({"x": rng.normal(size=rows), "n": rng.integers(0, 10**9, rows),
                      "city": pa.array(rng.choice([f"c{i}" for i in range(500)], rows))})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=20_000)
    del table
    base, peak, seen, first = pa.total_allocated_bytes(), 0, 0, None
    for batch in parquet_batches(path, batch_rows=20_000):
        seen += batch.num_rows
        first = first or batch.nbytes
        peak = max(peak, pa.total_allocated_bytes() - base)
    assert seen == rows
    assert peak < 10 * first, (peak, first)  # the whole file decoded is 50 batches
    frame = batches_frame([batch], batch.schema)
    assert isinstance(frame["city"].dtype, pd.CategoricalDtype)  # text as categoricals, as jobs read it
