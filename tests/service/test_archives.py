"""Checkpoint and TensorBoard downloads: tars written while they stream (service/archives.py),
byte-identical on every download, and equal to the files they were made from."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from adamant.artifacts import ArtifactNotFound, LocalArtifacts
from service.archives import FolderTar
from support.stack import Stack, wait_for_status


def tarfile_reference(folder: Path) -> bytes:
    """What the service built in memory before: tarfile's own output, with the same fixed metadata."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(folder.iterdir()):
            info = tarfile.TarInfo(name=f"{folder.name}/{path.name}")
            info.size = path.stat().st_size
            info.mtime, info.mode, info.uid, info.gid = 0, 0o644, 0, 0
            with path.open("rb") as f:
                tar.addfile(info, f)
    return buffer.getvalue()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "jobs" / "job_1" / "step-00000042"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text('{"format": "adamant-checkpoint/1"}')
    (folder / "model.safetensors").write_bytes(os.urandom(300_000))  # not a multiple of 512
    (folder / "empty.txt").write_bytes(b"")
    (folder / ("long-name-" * 12 + ".bin")).write_bytes(b"x" * 512)  # a name past 100 bytes needs a PAX header
    return folder


def test_the_streamed_tar_is_tarfiles_tar_byte_for_byte(folder: Path, tmp_path: Path) -> None:
    tar = FolderTar(LocalArtifacts(tmp_path), "jobs/job_1/step-00000042")
    streamed = b"".join(tar.chunks())
    assert streamed == tarfile_reference(folder)
    assert tar.length == len(streamed)


def test_the_streamed_tar_extracts_to_the_same_files(folder: Path, tmp_path: Path) -> None:
    streamed = b"".join(FolderTar(LocalArtifacts(tmp_path), "jobs/job_1/step-00000042").chunks())
    out = tmp_path / "out"
    with tarfile.open(fileobj=io.BytesIO(streamed)) as tar:
        tar.extractall(out, filter="data")
    assert {p.name: p.read_bytes() for p in (out / folder.name).iterdir()} == {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_large_file_streams_in_small_chunks(tmp_path: Path) -> None:
    folder = tmp_path / "big" / "ckpt"
    folder.mkdir(parents=True)
    size = 64 * 1024 * 1024
    with (folder / "model.safetensors").open("wb") as f:
        for _ in range(size // (1 << 20)):
            f.write(os.urandom(1 << 20))
    digest, total = hashlib.sha256(), 0
    tracemalloc.start()
    try:
        for chunk in FolderTar(LocalArtifacts(tmp_path), "big/ckpt").chunks():
            digest.update(chunk)
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > size
    assert peak < 4 * 1024 * 1024, f"building the tar peaked at {peak / 2**20:.1f} MiB for a 64 MiB file"


def test_an_empty_or_missing_folder_is_not_found(tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ArtifactNotFound):
        FolderTar(LocalArtifacts(tmp_path), "nothing")


def test_a_file_that_shrinks_while_it_streams_cuts_the_download(folder: Path, tmp_path: Path) -> None:
    chunks = FolderTar(LocalArtifacts(tmp_path), "jobs/job_1/step-00000042").chunks()
    (folder / "model.safetensors").write_bytes(b"short")
    with pytest.raises(OSError, match="shrank"):
        list(chunks)


@pytest.mark.integration
@pytest.mark.slow
def test_a_downloaded_checkpoint_holds_exactly_the_checkpoints_files(stack: Stack, tenant_key: str) -> None:
    spec = {
        "task": "binary_classification",
        "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
        "model": {"type": "logistic"},
        "training": {"epochs": 1, "batch_size": 1024},
    }
    with stack.client(tenant_key) as client:
        job = client.post("/v1/jobs", json=spec).json()
        wait_for_status(client, job["id"], {"succeeded"})
        with client.stream("GET", f"/v1/jobs/{job['id']}/checkpoints/best/download") as response:
            assert response.status_code == 200
            body = b"".join(response.iter_bytes())
            again = client.get(f"/v1/jobs/{job['id']}/checkpoints/best/download").content
    assert int(response.headers["Content-Length"]) == len(body) and again == body
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    (folder_name,) = {name.split("/")[0] for name in members}
    (on_disk,) = [p for p in (stack.home / "artifacts" / "jobs" / job["id"]).rglob(folder_name) if p.is_dir()]
    assert members == {f"{folder_name}/{p.name}": p.read_bytes() for p in on_disk.iterdir() if p.is_file()}
    assert hashlib.sha256(members[f"{folder_name}/manifest.json"]).hexdigest() == response.headers["X-Checkpoint-Sha256"]
