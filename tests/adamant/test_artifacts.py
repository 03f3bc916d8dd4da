"""The artifact stores: the local one and fsspec's, behaving the same behind one interface."""

from __future__ import annotations

import importlib
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from adamant.artifacts import (
    ArtifactNotFound,
    ArtifactStoreError,
    FsspecArtifacts,
    LocalArtifacts,
    artifact_mirror,
    artifact_store,
)


def a_checkpoint(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"\x00" * 100)
    (folder / "optimizer.safetensors").write_bytes(b"\x01" * 50)
    (folder / "manifest.json").write_text('{"format": "adamant-checkpoint/1"}')
    return folder


@pytest.fixture(params=["memory", "file", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "memory":  # one process only; a fresh prefix per test
        return FsspecArtifacts(f"memory://adamant-test-{uuid.uuid4().hex}")
    if request.param == "file":
        return FsspecArtifacts((tmp_path / "bucket").as_uri())
    return LocalArtifacts(tmp_path / "artifacts")


def test_a_checkpoint_directory_round_trips(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = a_checkpoint(tmp_path / "run" / "step-00000010")
    key = "jobs/job_1/run/checkpoints/step-00000010"

    store.put(key, source)

    assert store.list("jobs/job_1") == [f"{key}/manifest.json", f"{key}/model.safetensors", f"{key}/optimizer.safetensors"]
    assert store.size(key) == 100 + 50 + len('{"format": "adamant-checkpoint/1"}')
    assert store.size(f"{key}/model.safetensors") == 100
    with store.open(f"{key}/optimizer.safetensors") as f:
        assert f.read() == b"\x01" * 50
    store.get(key, tmp_path / "back")
    assert sorted(p.name for p in (tmp_path / "back").iterdir()) == ["manifest.json", "model.safetensors", "optimizer.safetensors"]
    assert (tmp_path / "back" / "model.safetensors").read_bytes() == b"\x00" * 100


def test_single_files_write_and_read(store) -> None:  # type: ignore[no-untyped-def]
    with store.open("datasets/t/ds/data.csv", "wb") as f:
        f.write(b"a,b\n1,2\n")
    assert store.exists("datasets/t/ds/data.csv") and store.size("datasets/t/ds/data.csv") == 8
    with store.open("datasets/t/ds/data.csv") as f:
        assert f.read() == b"a,b\n1,2\n"


def test_putting_a_directory_again_replaces_it(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key = "jobs/job_2/run/checkpoints/step-1"
    first = a_checkpoint(tmp_path / "first")
    (first / "stale.bin").write_bytes(b"old")
    store.put(key, first)
    store.put(key, a_checkpoint(tmp_path / "second"))
    assert not store.exists(f"{key}/stale.bin")


def test_delete_is_idempotent_and_missing_keys_are_named(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key = "jobs/job_3/run/checkpoints/step-1"
    store.put(key, a_checkpoint(tmp_path / "ckpt"))
    store.delete(key)
    store.delete(key)  # GC may run twice: a missing key is success
    assert store.list(key) == [] and not store.exists(key)
    with pytest.raises(ArtifactNotFound):
        store.size(key)
    with pytest.raises(ArtifactNotFound):
        store.open(f"{key}/manifest.json")


def test_keys_never_escape_the_root(store) -> None:  # type: ignore[no-untyped-def]
    for key in ("../outside", "/etc/passwd", "jobs/../../x"):
        with pytest.raises(ValueError):
            store.open(key)


def test_the_configured_store_follows_the_settings(tmp_path: Path) -> None:
    local = SimpleNamespace(artifacts_url=None, artifact_root=tmp_path)
    remote = SimpleNamespace(artifacts_url="memory://adamant-settings", artifact_root=tmp_path)
    assert isinstance(artifact_store(local), LocalArtifacts) and artifact_mirror(local) is None
    assert isinstance(artifact_store(remote), FsspecArtifacts) and isinstance(artifact_mirror(remote), FsspecArtifacts)


def test_an_s3_url_without_s3fs_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # s3fs is a dependency now; a deployment that dropped it gets this message. fsspec is made
    # to look for its S3 filesystem in a module that does not exist, as it would without s3fs.
    registry = importlib.import_module("fsspec.registry")  # the module; fsspec.registry is its mapping
    monkeypatch.delitem(registry._registry, "s3", raising=False)
    monkeypatch.setitem(registry.known_implementations, "s3",
                        {"class": "adamant_no_such_module.S3FileSystem", "err": "Install s3fs to access S3"})

    with pytest.raises(ArtifactStoreError, match="s3fs"):
        FsspecArtifacts("s3://bucket/prefix")
