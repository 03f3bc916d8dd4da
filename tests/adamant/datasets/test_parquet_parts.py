"""A folder of Hive-partitioned Parquet files streams as one table: its rows in file order, its
partition keys as columns typed as a whole read types them, one schema across files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from adamant.datasets.parquet_parts import table_batches, table_rows
from adamant.datasets.readers import batches_frame, read_table
from adamant.exceptions import DatasetError
from adamant.preparation.streamed import prepare_streamed
from adamant.spec import JobSpec
from bench.customer_tables import write_customer_table

ROWS = 12_000


@pytest.fixture(scope="module")
def customers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(bench's customer table as one file, the same rows partitioned by `month` into a folder)."""
    root = tmp_path_factory.mktemp("parts")
    write_customer_table(root / "one.parquet", ROWS, batch_rows=4_000)
    pq.write_to_dataset(pq.read_table(root / "one.parquet"), root / "by-month", partition_cols=["month"])
    return root / "one.parquet", root / "by-month"


def whole(folder: Path) -> pd.DataFrame:
    """The folder as a job that reads it whole reads it (pyarrow's Hive discovery), files in path order."""
    dataset = pads.dataset(str(folder), format="parquet", partitioning="hive")
    files = sorted(dataset.files)
    return pads.dataset(files, format="parquet", partitioning=pads.partitioning(flavor="hive"),
                        partition_base_dir=str(folder)).to_table().to_pandas()


def test_a_folder_streams_its_files_rows_in_order_with_its_keys_as_columns(customers: tuple[Path, Path]) -> None:
    _, folder = customers
    assert table_rows(folder) == ROWS
    batches = list(table_batches(folder, batch_rows=1_000))
    assert max(batch.num_rows for batch in batches) <= 1_000
    assert len({batch.schema for batch in batches}) == 1
    streamed = batches_frame(batches, batches[0].schema)
    expected = whole(folder)
    assert list(streamed.columns) == list(expected.columns)  # the key last, as discovery puts it
    assert streamed["month"].dtype == "category"  # text keys as the categoricals of a streamed file
    text = {name: object for name in expected.columns if not pd.api.types.is_numeric_dtype(expected[name])}
    pd.testing.assert_frame_equal(streamed.astype(text), expected.astype(text))


def test_chosen_columns_and_typed_keys_and_files_of_narrower_types(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    for year, values in ((2023, pa.array([1, 2], pa.int64())), (2024, pa.array([3], pa.int32()))):
        (folder / f"year={year}").mkdir(parents=True)
        pq.write_table(pa.table({"spend": values, "region": ["n", "s"][: len(values)]}), folder / f"year={year}" / "p.parquet")
    batches = list(table_batches(folder, columns=["year", "spend"]))
    frame = batches_frame(batches, batches[0].schema)
    assert frame.to_dict("list") == {"year": [2023, 2023, 2024], "spend": [1, 2, 3]}
    assert frame["year"].dtype == np.int32 and frame["spend"].dtype == np.int64


def test_a_folder_without_parquet_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty" / "month=may").mkdir(parents=True)
    with pytest.raises(DatasetError, match="holds no Parquet files"):
        table_rows(tmp_path / "empty")


def test_a_streamed_folder_prepares_exactly_as_the_same_rows_in_one_file(customers: tuple[Path, Path], tmp_path: Path) -> None:
    _, folder = customers
    single = tmp_path / "same-rows.parquet"
    pq.write_table(pa.Table.from_pandas(whole(folder), preserve_index=False), single)
    spec = JobSpec.model_validate({
        "task": "binary_classification",
        "dataset": {"ref": "file:x", "target": "y", "drop": ["duration"], "id_column": "customer_id"},
        "model": {"type": "logistic"},
    })
    prepared = []
    for name, path in (("folder", folder), ("file", single)):
        (tmp_path / name).mkdir()
        data, _ = prepare_streamed(spec, path, tmp_path / name, batch_rows=2_500, sample_size=5_000)
        prepared.append(data)
    from_folder, from_file = prepared
    assert "month" in " ".join(from_folder.feature_names)  # the key is a feature like any column
    assert from_folder.feature_names == from_file.feature_names
    for name in ("numbers_train", "codes_train", "embedded_train", "y_train", "numbers_val", "y_val", "val_rows"):
        assert np.array_equal(getattr(from_folder, name), getattr(from_file, name)), name
    assert len(from_folder.train_rows) + len(from_folder.val_rows) == ROWS
    assert read_table(single).shape[0] == ROWS


def test_a_file_reference_to_a_local_folder_reads_it_whole_in_the_streamed_order(customers: tuple[Path, Path]) -> None:
    from adamant.datasets import load_dataset
    from adamant.datasets.parquet_parts import read_folder
    from adamant.datasets.readers import ReadLimits, TableTooLarge
    from adamant.datasets.resolve import resolve_file
    from adamant.spec import DatasetSpec

    _, folder = customers
    frame = load_dataset(DatasetSpec(ref=f"file:{folder.name}"), file_roots=[folder.parent])
    streamed = batches_frame(list(table_batches(folder)), next(table_batches(folder)).schema)
    pd.testing.assert_frame_equal(frame, streamed)  # the same rows, in the same order, as a streamed job sees them
    assert len(frame) == ROWS and frame["month"].dtype == "category"
    assert frame.select_dtypes("object").columns.empty  # text read as categories, as read_table reads it

    head = read_folder(folder, max_rows=1_000)
    pd.testing.assert_frame_equal(head, frame.iloc[:1_000].reset_index(drop=True), check_categorical=False)
    with pytest.raises(TableTooLarge, match="upload_max_rows"):
        read_folder(folder, ReadLimits(max_rows=ROWS - 1))
    (folder.parent / "empty").mkdir(exist_ok=True)
    with pytest.raises(DatasetError, match="holds no Parquet files"):
        resolve_file("empty", [folder.parent])
    with pytest.raises(DatasetError, match="outside the allowed roots"):
        resolve_file(str(folder), [folder.parent / "elsewhere"])
