from pathlib import Path

import pytest

from adamant.datasets import load_dataset
from adamant.exceptions import DatasetError
from adamant.spec import DatasetSpec


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "allowed"
    (root / "team").mkdir(parents=True)
    (root / "team" / "customers.csv").write_text("age;spend\n34;1.5\n51;2.0\n")
    (tmp_path / "secret.csv").write_text("password,user\nhunter2,root\n")
    return root


def test_builtin_reference_loads_the_catalogue_entry() -> None:
    frame = load_dataset(DatasetSpec(ref="builtin:cdnow-rfm"), file_roots=[])

    assert len(frame) == 23_570


@pytest.mark.parametrize("ref", ["file:team/customers.csv", "file:team%2Fcustomers.csv"])
def test_relative_file_under_root_is_read(root: Path, ref: str) -> None:
    frame = load_dataset(DatasetSpec(ref=ref), file_roots=[root])

    assert frame["spend"].tolist() == [1.5, 2.0]


def test_absolute_file_url_under_root_is_read(root: Path) -> None:
    frame = load_dataset(DatasetSpec(ref=f"file://{root}/team/customers.csv", delimiter=";"), file_roots=[root])

    assert frame.shape == (2, 2)


@pytest.mark.parametrize(
    "ref",
    ["file:../secret.csv", "file:%2e%2e/secret.csv", "file:team/%2E%2E/%2e%2e/secret.csv", "file:/etc/passwd"],
)
def test_path_outside_roots_is_refused(root: Path, ref: str) -> None:
    with pytest.raises(DatasetError, match="is outside the allowed roots"):
        load_dataset(DatasetSpec(ref=ref), file_roots=[root])


def test_symlink_escaping_the_root_is_refused(root: Path) -> None:
    (root / "team" / "innocent.csv").symlink_to(root.parent / "secret.csv")

    with pytest.raises(DatasetError, match="File 'team/innocent.csv' is outside the allowed roots"):
        load_dataset(DatasetSpec(ref="file:team/innocent.csv"), file_roots=[root])


def test_symlink_inside_the_root_is_followed(root: Path) -> None:
    (root / "latest.csv").symlink_to(root / "team" / "customers.csv")

    assert len(load_dataset(DatasetSpec(ref="file:latest.csv"), file_roots=[root])) == 2


def test_nul_byte_is_refused(root: Path) -> None:
    with pytest.raises(DatasetError, match="File reference contains a NUL byte"):
        load_dataset(DatasetSpec(ref="file:team/customers.csv%00.png"), file_roots=[root])


def test_missing_file_under_root_is_reported(root: Path) -> None:
    with pytest.raises(DatasetError, match="No file 'team/absent.csv' under the allowed roots"):
        load_dataset(DatasetSpec(ref="file:team/absent.csv"), file_roots=[root])


def test_a_folder_without_parquet_files_is_not_a_table(root: Path) -> None:
    with pytest.raises(DatasetError, match="'team' holds no Parquet files"):
        load_dataset(DatasetSpec(ref="file:team"), file_roots=[root])


def test_file_references_need_configured_roots() -> None:
    with pytest.raises(DatasetError, match=r"file: references are not enabled on this server"):
        load_dataset(DatasetSpec(ref="file:customers.csv"), file_roots=[])


@pytest.mark.parametrize("ref", ["s3://bucket/customers.parquet", "gs://bucket/x.csv", "https://example.com/x.csv"])
def test_object_store_references_are_not_enabled(ref: str) -> None:
    with pytest.raises(DatasetError, match="object-store references are not enabled"):
        load_dataset(DatasetSpec(ref=ref), file_roots=[])


def test_upload_reference_uses_the_store(root: Path) -> None:
    uploads = {"ds_123": root / "team" / "customers.csv"}

    frame = load_dataset(DatasetSpec(ref="dataset:ds_123"), file_roots=[], uploads=uploads.__getitem__)

    assert frame.shape == (2, 2)
    with pytest.raises(DatasetError, match="No uploaded dataset 'ds_999'"):
        load_dataset(DatasetSpec(ref="dataset:ds_999"), file_roots=[], uploads=uploads.__getitem__)


def test_upload_reference_without_a_store_is_refused() -> None:
    with pytest.raises(DatasetError, match=r"Uploaded datasets are not available here \(dataset:ds_1\)"):
        load_dataset(DatasetSpec(ref="dataset:ds_1"), file_roots=[])


def test_unknown_reference_says_what_is_accepted() -> None:
    with pytest.raises(DatasetError, match="use builtin:<name>, dataset:<id> or file:<path>"):
        load_dataset(DatasetSpec(ref="customers.csv"), file_roots=[])
