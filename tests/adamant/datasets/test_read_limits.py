"""Reading a table is bounded while it reads: unpacked bytes, rows and columns (issue 10, items 2 and 3)."""

import gzip
import time
import zlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adamant.datasets.catalogue import BANK_MARKETING_FILE
from adamant.datasets.cdnow import CDNOW_FILE
from adamant.datasets.readers import ReadLimits, TableTooLarge, check_table_width, inspect_table, read_table
from adamant.exceptions import DatasetError


def gzip_bomb(path: Path, rows: int) -> Path:
    """A small gzip CSV that unpacks to `rows` rows (gzip's 1000:1 on repeated lines)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip header
    parts = [compressor.compress(b"a,b\n")]
    block = b"1,2\n" * 250_000
    for _ in range(rows // 250_000):
        parts.append(compressor.compress(block))
    parts.append(compressor.flush())
    path.write_bytes(b"".join(parts))
    return path


def test_a_gzip_csv_is_refused_once_it_unpacks_past_the_byte_cap(tmp_path: Path) -> None:
    bomb = gzip_bomb(tmp_path / "bomb.csv.gz", rows=5_000_000)  # 20 MB unpacked from ~20 KB
    limits = ReadLimits(max_decompressed_bytes=4_000_000)
    assert bomb.stat().st_size < 100_000

    for read in (read_table, inspect_table):
        with pytest.raises(TableTooLarge) as refused:
            read(bomb, limits=limits)
        assert refused.value.limit == "decompressed_bytes" and refused.value.cap == 4_000_000
        assert "decompresses to more than 4,000,000 bytes" in str(refused.value)
        assert "upload_max_decompressed_bytes" in str(refused.value)


def test_rows_past_the_cap_are_refused_while_they_stream(tmp_path: Path) -> None:
    bomb = gzip_bomb(tmp_path / "rows.csv.gz", rows=1_000_000)
    limits = ReadLimits(max_rows=250_000)

    for read in (read_table, inspect_table):
        with pytest.raises(TableTooLarge) as refused:
            read(bomb, limits=limits)
        assert refused.value.limit == "rows" and refused.value.found == 250_001
        assert "more than 250,000 rows" in str(refused.value) and "upload_max_rows" in str(refused.value)


def test_a_parquet_file_is_refused_by_its_footer_before_any_data_is_read(tmp_path: Path) -> None:
    path = tmp_path / "many.parquet"
    pq.write_table(pa.table({"a": pa.array([0] * 3_000_000, pa.int8()), "b": pa.array([1] * 3_000_000, pa.int8())}), path)
    assert path.stat().st_size < 200_000

    for read in (read_table, inspect_table):
        with pytest.raises(TableTooLarge) as too_many_rows:
            read(path, limits=ReadLimits(max_rows=1_000_000))
        assert too_many_rows.value.limit == "rows" and too_many_rows.value.found == 3_000_000
    with pytest.raises(TableTooLarge) as too_wide:
        check_table_width(path, limits=ReadLimits(max_columns=1))
    assert too_wide.value.limit == "columns" and too_wide.value.found == 2
    with pytest.raises(TableTooLarge) as too_big:
        inspect_table(path, limits=ReadLimits(max_decompressed_bytes=1_000_000))
    assert too_big.value.limit == "decompressed_bytes" and too_big.value.found > 1_000_000


def test_a_one_line_csv_of_100k_columns_is_refused_by_counting_not_parsing(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(100_000)) + "\n")

    for read in (check_table_width, read_table, inspect_table):
        started = time.perf_counter()
        with pytest.raises(TableTooLarge) as refused:
            read(path, limits=ReadLimits())
        assert time.perf_counter() - started < 1.0, read.__name__
        assert refused.value.limit == "columns" and refused.value.found == 100_000 and refused.value.cap == 2_000
        assert "100,000 columns" in str(refused.value) and "2,000" in str(refused.value)


def test_a_wide_whitespace_table_is_counted_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "wide.txt"
    path.write_text("\n\n" + " ".join(f"word{i}" for i in range(300_000)) + "\n1 2\n")  # 3.3 MB: several chunks

    with pytest.raises(TableTooLarge) as refused:
        check_table_width(path, format="whitespace")
    assert refused.value.found == 300_000


def test_quoted_delimiters_in_the_header_are_not_counted_as_columns(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text('"a,b,c",d\n1,2\n')

    check_table_width(path, limits=ReadLimits(max_columns=2))
    assert list(inspect_table(path, limits=ReadLimits(max_columns=2)).sample.columns) == ["a,b,c", "d"]


@pytest.mark.parametrize("source", [BANK_MARKETING_FILE, CDNOW_FILE], ids=["bank-marketing", "cdnow"])
def test_inspecting_a_table_reads_what_read_table_reads(source: Path) -> None:
    whole = read_table(source)
    inspected = inspect_table(source, sample_rows=len(whole) + 1)

    assert (inspected.rows, inspected.columns) == whole.shape
    pd.testing.assert_frame_equal(inspected.sample, whole)


def test_inspecting_keeps_only_the_first_rows_and_counts_the_rest(tmp_path: Path) -> None:
    gzipped = tmp_path / "bank.csv.gz"
    gzipped.write_bytes(gzip.compress(BANK_MARKETING_FILE.read_bytes()))
    parquet = tmp_path / "bank.parquet"
    pq.write_table(pa.Table.from_pandas(read_table(BANK_MARKETING_FILE)), parquet, row_group_size=5_000)

    for path in (gzipped, parquet):
        inspected = inspect_table(path, sample_rows=1_000)
        assert inspected.rows == 41_188 and inspected.columns == 21
        assert len(inspected.sample) == 1_000
        assert inspected.sample["job"].iloc[0] == "housemaid"


def test_a_malformed_row_past_the_sample_is_still_found(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    path.write_text("a,b\n" + "1,2\n" * 5_000 + "3\n")

    with pytest.raises(DatasetError) as refused:
        inspect_table(path, sample_rows=100)
    assert refused.value.row == 5_001


def test_a_latin1_byte_past_the_first_chunk_is_decoded_as_read_table_does(tmp_path: Path) -> None:
    path = tmp_path / "late-latin1.csv"
    path.write_bytes(b"name,n\n" + b"abc,1\n" * 400_000 + "café,2\n".encode("latin-1"))

    inspected = inspect_table(path, sample_rows=10)
    assert inspected.rows == 400_001 and read_table(path)["name"].iloc[-1] == "café"


def test_training_reads_an_operators_wide_file_whole_while_an_upload_of_it_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(2_500)) + "\n" + ",".join("1" * 2_500) + "\n")

    assert read_table(path).shape == (1, 2_500)  # file: roots and built-ins are the operator's
    with pytest.raises(TableTooLarge):
        inspect_table(path)  # what the service reads an upload with: the upload defaults


def test_a_header_that_is_not_utf8_is_counted_not_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("café,prix\n1,2\n".encode("latin-1"))

    check_table_width(path)
    assert list(inspect_table(path).sample.columns) == ["café", "prix"]
