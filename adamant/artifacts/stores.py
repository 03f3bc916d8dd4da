"""The ArtifactStore interface and its two implementations: local files and fsspec."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol

from adamant.exceptions import AdamantError

MANIFEST = "manifest.json"


class ArtifactStoreError(AdamantError):
    """The artifact store cannot be reached or used as configured."""

    kind = "artifact_store_error"


class ArtifactNotFound(ArtifactStoreError):
    """No artifact under this key."""

    kind = "artifact_not_found"

    def __init__(self, key: str) -> None:
        super().__init__(f"no artifact at {key!r}")
        self.key = key

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return type(self), (self.key,)


class ArtifactStore(Protocol):
    """Files by key. A key names a file or a prefix ("directory") of files."""

    def put(self, key: str, source: Path) -> None:
        """Store a local file, or a directory's files (replacing what the key held)."""

    def get(self, key: str, destination: Path) -> None:
        """Copy a file, or every file under a prefix, to a local path."""

    def open(self, key: str, mode: str = "rb") -> IO[bytes]: ...

    def list(self, prefix: str = "") -> list[str]:
        """Keys of the files under `prefix` (all levels), sorted."""

    def delete(self, key: str) -> None:
        """Remove a file or everything under a prefix; a missing key is not an error (GC is idempotent)."""

    def size(self, key: str) -> int:
        """Bytes of a file or of every file under a prefix; ArtifactNotFound when there is none."""

    def exists(self, key: str) -> bool: ...


def check_key(key: str) -> str:
    """A key as stored: POSIX, relative, never escaping the root (ValueError otherwise)."""
    text = str(key).replace("\\", "/").strip("/")
    parts = PurePosixPath(text).parts
    if ".." in parts or (parts and ":" in parts[0]) or str(key).startswith("/"):
        raise ValueError(f"artifact keys are relative paths under the store's root: {key!r}")
    return "/".join(parts)


def _upload_order(source: Path) -> list[Path]:
    """A directory's files, the checkpoint manifest last: a reader that finds the manifest
    finds the files it lists (stores without atomic renames)."""
    files = [p for p in source.rglob("*") if p.is_file()]
    return sorted(files, key=lambda p: (p.name == MANIFEST, p.relative_to(source).as_posix()))


class LocalArtifacts:
    """Artifacts as plain files under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"LocalArtifacts({str(self.root)!r})"

    def path(self, key: str) -> Path:
        return self.root / check_key(key) if check_key(key) else self.root

    def put(self, key: str, source: Path) -> None:
        target, source = self.path(key), Path(source)
        if target.resolve() == source.resolve():
            return  # already in place: the trainer wrote it under this root
        if source.is_dir():
            staging = target.with_name(f".staging-{target.name}")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(source, staging)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)

    def get(self, key: str, destination: Path) -> None:
        source = self.path(key)
        if source.is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True)
        elif source.is_file():
            Path(destination).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
        else:
            raise ArtifactNotFound(key)

    def open(self, key: str, mode: str = "rb") -> IO[bytes]:
        path = self.path(key)
        if "r" in mode and not path.is_file():
            raise ArtifactNotFound(key)
        if "w" in mode or "a" in mode:
            path.parent.mkdir(parents=True, exist_ok=True)
        return path.open(mode)  # type: ignore[return-value]

    def list(self, prefix: str = "") -> list[str]:
        base = self.path(prefix)
        if base.is_file():
            return [check_key(prefix)]
        if not base.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())

    def delete(self, key: str) -> None:
        path = self.path(key)
        if path == self.root:
            raise ValueError("refusing to delete the whole artifact root")
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    def size(self, key: str) -> int:
        path = self.path(key)
        if path.is_file():
            return path.stat().st_size
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        raise ArtifactNotFound(key)

    def exists(self, key: str) -> bool:
        return self.path(key).exists()


class FsspecArtifacts:
    """Artifacts on any fsspec filesystem, under the path of `url`."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        import fsspec

        self.url = url
        try:
            self.fs, root = fsspec.core.url_to_fs(url, **storage_options)
        except (ImportError, ValueError) as exc:  # e.g. s3:// without s3fs installed
            raise ArtifactStoreError(
                f"ADAMANT_ARTIFACTS_URL={url!r} cannot be used: {exc} "
                "(s3:// needs the s3fs package, which Adamant installs; gs:// needs gcsfs, which it does not)"
            ) from exc
        self.root = root.rstrip("/")

    def __repr__(self) -> str:
        return f"FsspecArtifacts({self.url!r})"

    def _path(self, key: str) -> str:
        key = check_key(key)
        return f"{self.root}/{key}" if key else (self.root or "/")

    def _key(self, path: str) -> str:
        return path[len(self.root) :].lstrip("/") if path.startswith(self.root) else path.lstrip("/")

    def put(self, key: str, source: Path) -> None:
        source = Path(source)
        if source.is_dir():
            self.delete(key)  # a rewritten checkpoint: no stale files from the old one
            for file in _upload_order(source):
                self._put_file(file, f"{check_key(key)}/{file.relative_to(source).as_posix()}")
        else:
            self._put_file(source, key)

    def _put_file(self, file: Path, key: str) -> None:
        path = self._path(key)
        self.fs.makedirs(path.rsplit("/", 1)[0] or "/", exist_ok=True)
        self.fs.put_file(str(file), path)

    def get(self, key: str, destination: Path) -> None:
        keys = self.list(key)
        if not keys:
            raise ArtifactNotFound(key)
        base = check_key(key)
        for file_key in keys:
            relative = file_key[len(base) :].lstrip("/")
            target = Path(destination) / relative if relative else Path(destination)
            target.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(self._path(file_key), str(target))

    def open(self, key: str, mode: str = "rb") -> IO[bytes]:
        path = self._path(key)
        if "w" in mode or "a" in mode:
            self.fs.makedirs(path.rsplit("/", 1)[0] or "/", exist_ok=True)
        try:
            return self.fs.open(path, mode)  # type: ignore[no-any-return]
        except FileNotFoundError as exc:
            raise ArtifactNotFound(key) from exc

    def list(self, prefix: str = "") -> list[str]:
        path = self._path(prefix)
        try:
            found = self.fs.find(path)
        except FileNotFoundError:
            return []
        return sorted(self._key(p) for p in found)

    def delete(self, key: str) -> None:
        path = self._path(key)
        if not check_key(key):
            raise ValueError("refusing to delete the whole artifact store")
        try:
            if self.fs.exists(path):
                self.fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass

    def size(self, key: str) -> int:
        keys = self.list(key)
        if not keys:
            raise ArtifactNotFound(key)
        return sum(int(self.fs.size(self._path(k))) for k in keys)

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))


def artifact_store(settings: Any) -> ArtifactStore:
    """The store that artifacts are read from: ADAMANT_ARTIFACTS_URL, else the local root."""
    if settings.artifacts_url:
        return FsspecArtifacts(settings.artifacts_url)
    return LocalArtifacts(settings.artifact_root)


def artifact_mirror(settings: Any) -> ArtifactStore | None:
    """Where files written under the local root are uploaded for other hosts (checkpoints,
    datasets, reference profiles, scoring outputs); None when the local root is the store."""
    return FsspecArtifacts(settings.artifacts_url) if settings.artifacts_url else None


def publish(settings: Any, path: Path) -> None:
    """Upload a file or folder under the local artifact root to ADAMANT_ARTIFACTS_URL, under
    the same key; nothing to do without a store (the local root is the store)."""
    mirror = artifact_mirror(settings)
    if mirror is not None:
        mirror.put(Path(path).relative_to(settings.artifact_root).as_posix(), Path(path))


def local_copy(settings: Any, key: str) -> Path:
    """The artifact `key` as a folder or file under this host's artifact root.

    With ADAMANT_ARTIFACTS_URL, a host that did not write it (the API on another machine, a
    worker resuming a job another worker started) fetches it from the store first, into a
    temporary name renamed into place, so a reader never sees half a checkpoint. Without a
    store, the local root is the store: the path is returned as it is.
    """
    path = Path(settings.artifact_root) / check_key(key)
    if path.exists() or not settings.artifacts_url:
        return path
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}-{threading.get_ident()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    FsspecArtifacts(settings.artifacts_url).get(key, partial)
    try:
        os.rename(partial, path)
    except OSError:  # another reader put it there first
        shutil.rmtree(partial, ignore_errors=True)
    return path
