"""Unpacking the service's tar archives: names are not trusted, checkpoints are verified."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from client.archives import unpack_checkpoint, unpack_files
from client.exceptions import IntegrityError


def tar_of(path: Path, members: dict[str, bytes], *, links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def checkpoint_members(files: dict[str, bytes]) -> tuple[dict[str, bytes], str]:
    manifest = json.dumps({"files": {n: {"sha256": hashlib.sha256(d).hexdigest()} for n, d in files.items()}}).encode()
    members = {f"step-00000010/{n}": d for n, d in files.items()} | {"step-00000010/manifest.json": manifest}
    return members, hashlib.sha256(manifest).hexdigest()


def test_flat_archive_files_land_in_the_destination(tmp_path: Path) -> None:
    archive = tar_of(tmp_path / "tb.tar", {"tensorboard/events.out.tfevents.1": b"e1", "tensorboard/events.out.tfevents.2": b"e2"})
    written = unpack_files(archive, tmp_path / "out" / "tb")
    assert [p.name for p in written] == ["events.out.tfevents.1", "events.out.tfevents.2"]
    assert (tmp_path / "out" / "tb" / "events.out.tfevents.2").read_bytes() == b"e2"


@pytest.mark.parametrize("name", [
    "../evil", "tensorboard/../../evil", "../tensorboard/evil", "/etc/evil", "/evil",
    "a/b/evil", "tensorboard/..", "..\\evil", "",
])
def test_names_that_leave_the_destination_are_refused_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    archive = tar_of(tmp_path / "bad.tar", {"tensorboard/ok": b"fine", name: b"evil"})
    dest = tmp_path / "deep" / "out"
    with pytest.raises(IntegrityError):
        unpack_files(archive, dest)
    assert not dest.exists()
    assert not any(p.name == "evil" for p in tmp_path.rglob("*"))
    assert [p.name for p in (tmp_path / "deep").iterdir()] == []  # no staging left behind


def test_links_are_refused(tmp_path: Path) -> None:
    archive = tar_of(tmp_path / "bad.tar", {}, links={"tensorboard/passwd": "/etc/passwd"})
    with pytest.raises(IntegrityError, match="not a regular file"):
        unpack_files(archive, tmp_path / "out")


def test_a_file_that_is_not_a_tar_is_an_integrity_error(tmp_path: Path) -> None:
    (tmp_path / "junk.tar").write_bytes(b"<html>a proxy's error page</html>" * 40)
    with pytest.raises(IntegrityError, match="not a readable tar"):
        unpack_files(tmp_path / "junk.tar", tmp_path / "out")


def test_a_verified_checkpoint_is_unpacked(tmp_path: Path) -> None:
    members, sha = checkpoint_members({"model.safetensors": b"weights", "preparation.json": b"{}"})
    manifest = unpack_checkpoint(tar_of(tmp_path / "c.tar", members), sha, tmp_path / "best")
    assert set(manifest["files"]) == {"model.safetensors", "preparation.json"}
    assert (tmp_path / "best" / "model.safetensors").read_bytes() == b"weights"


def test_a_checkpoint_whose_manifest_is_not_the_listed_one_is_refused(tmp_path: Path) -> None:
    members, _ = checkpoint_members({"model.safetensors": b"weights"})
    with pytest.raises(IntegrityError, match="manifest.json has sha256"):
        unpack_checkpoint(tar_of(tmp_path / "c.tar", members), "0" * 64, tmp_path / "best")
    assert not (tmp_path / "best").exists()


def test_a_checkpoint_file_that_does_not_match_its_manifest_is_refused(tmp_path: Path) -> None:
    members, sha = checkpoint_members({"model.safetensors": b"weights"})
    members["step-00000010/model.safetensors"] = b"tampered"
    with pytest.raises(IntegrityError, match="model.safetensors has sha256"):
        unpack_checkpoint(tar_of(tmp_path / "c.tar", members), sha, tmp_path / "best")
    assert not (tmp_path / "best").exists()
