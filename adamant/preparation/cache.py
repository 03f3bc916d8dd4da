"""The prepared-data cache: a job's encoded table, kept on disk so runs over the same data skip preparing it.

The trials of a sweep, the runs of a comparison and a resumed job differ in optimizer, schedule,
training or model settings only; preparation reads none of those (prepare_training_data reads
`spec.task` and `spec.dataset`, nothing of `spec.model`), so they share one entry. The key is the
sha256 of what preparation does depend on:

- the dataset's content: the sha256 of the file's bytes for `file:` and `dataset:` references
  (the reader detects the format from the bytes, not the name); for `builtin:<name>`, the name
  and the sha256 of every packaged file (several built-ins are derived from one file);
- `task` and the whole `dataset` block but its `ref` (target, features, drop, id/user/item
  columns, validation split, format, delimiter);
- PREPARATION_VERSION, bumped by hand when preparation changes meaning, plus the sha256 of the
  source files that read and encode tables and of the pandas and numpy versions, so a deploy
  that edits them without a bump still misses rather than serving stale arrays.

An entry is a folder `<root>/<key>/`: one `.npy` per array (np.save, never pickled; ids that
are text are stored as fixed-width text) and `meta.json` with the scalars, the preprocessing as
checkpoints store it (`Preprocessing.to_dict`), the JSON `extras` the caller keeps beside (the
reference feature profile) and each array's size, sha256, modification time and inode. It is
written in a temporary folder and renamed into place, so nobody reads half an entry. A read
trusts a file whose size, modification time and inode are those published (sha256 runs at
~1.1 GB/s here: 8 s of every hit on a 100M-row table's 8.8 GB of arrays, more when its pages
are not cached) and checks the sha256 of any other; an entry
that fails its checks is removed and the caller prepares again. Arrays are mapped copy-on-write (mmap_mode="c"):
pages come from the page cache, and a caller that writes to one changes its own copy only.
Preparing a key holds a lock file (flock), so concurrent trials wait for the first one and then
read its entry rather than preparing the same table side by side. The folder is kept under
`max_bytes` by evicting the least recently used entries; 0 turns the cache off.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adamant.checkpoint_files import sha256_of
from adamant.datasets.catalogue import BUILTIN_DIR, BuiltinDataset
from adamant.datasets.resolve import resolve_reference
from adamant.preparation.prepare import PreparedData
from adamant.preparation.preprocessing import Preprocessing
from adamant.spec import JobSpec

PREPARATION_VERSION = 2
ENTRY_FORMAT = "adamant-prepared/1"
META = "meta.json"
# Array fields of PreparedData; None fields are left out of the entry.
ARRAY_FIELDS = (
    "numbers_train", "codes_train", "y_train", "numbers_val", "codes_val", "y_val", "embedded_train", "embedded_val",
    "ids_train", "ids_val", "train_rows", "val_rows",
    "user_idx_train", "item_idx_train", "user_idx_val", "item_idx_val", "fit_rows", "weights_train",
)
SCALAR_FIELDS = (
    "task", "feature_names", "n_classes", "class_labels", "n_users", "n_items", "rating_mean", "rating_min",
    "rating_max", "cold_val_rows", "excluded_columns", "streamed",
)
# Source whose meaning the arrays depend on (see the module doc): a change there is a new key.
_SOURCES = (
    "preparation/prepare.py", "preparation/preprocessing.py", "preparation/encoding.py", "preparation/columns.py", "preparation/split.py",
    "preparation/targets.py", "preparation/cells.py", "preparation/streamed.py", "preparation/interactions.py",
    "ranking/evaluation.py", "datasets/readers.py", "datasets/schema.py",
    "datasets/catalogue.py", "datasets/cdnow.py", "monitoring/profile.py",
)
STALE_TEMPORARY_S = 24 * 3600


class NotCacheable(Exception):
    """Prepared data that this cache cannot store faithfully (an id column of mixed types)."""


@dataclass
class CachedPreparation:
    """An entry read back: the prepared data, the caller's extras, and how long reading took."""

    key: str
    data: PreparedData
    extras: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def dataset_identity(
    spec: JobSpec, *, file_roots: Sequence[Path], uploads: Callable[[str], Path] | None = None, hashes: Path | None = None
) -> dict[str, Any] | None:
    """What the dataset's content is, for the key; None when this cache cannot tell (the caller
    then prepares without it, and any error in the reference surfaces there)."""
    try:
        source = resolve_reference(spec.dataset.ref, file_roots=file_roots, uploads=uploads)
    except Exception:  # noqa: BLE001 - the uncached path reports the reference's error to the user
        return None
    if isinstance(source, BuiltinDataset):
        return {"builtin": source.name, "files": _builtin_files()}
    try:
        return path_identity(source, hashes) if isinstance(source, Path) else None
    except OSError:
        return None


def path_identity(path: Path, hashes: Path | None = None) -> dict[str, Any]:
    """What names a local table's bytes: a file's sha256, or for a partitioned folder each file's
    path in it and sha256 (file_sha256: remembered under `hashes` when given)."""
    if not path.is_dir():
        return {"file_sha256": file_sha256(path, hashes)}
    return {"folder": [[str(file.relative_to(path)), file_sha256(file, hashes)]
                       for file in sorted(path.rglob("*")) if file.is_file()]}


def file_sha256(path: Path, hashes: Path | None = None) -> str:
    """The sha256 of a file's bytes, remembered by (path, size, mtime_ns) under `hashes` so a
    large table is hashed once, not once per trial."""
    stat = path.stat()
    stamp = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    record = hashes / (hashlib.sha256(stamp["path"].encode()).hexdigest() + ".json") if hashes else None
    if record is not None:
        with contextlib.suppress(OSError, ValueError):
            known = json.loads(record.read_text())
            if isinstance(known, dict) and all(known.get(k) == v for k, v in stamp.items()):
                return str(known["sha256"])
    digest = sha256_of(path)
    if record is not None:
        with contextlib.suppress(OSError):
            record.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(record, json.dumps({**stamp, "sha256": digest}).encode())
    return digest


@functools.cache
def _builtin_files() -> dict[str, str]:
    return {
        str(path.relative_to(BUILTIN_DIR)): sha256_of(path)
        for path in sorted(BUILTIN_DIR.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


@functools.cache
def _code_digest() -> str:
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for name in _SOURCES:
        path = package / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"") + b"\0")
    return digest.hexdigest()


def preparation_key(spec: JobSpec, identity: dict[str, Any]) -> str:
    """The cache key of preparing `spec`'s data whose content is `identity` (see the module doc)."""
    parts = {
        "version": PREPARATION_VERSION,
        "code": _code_digest(),
        "libraries": {"pandas": pd.__version__, "numpy": np.__version__},
        "data": identity,
        "task": spec.task,
        "dataset": spec.dataset.model_dump(mode="json", exclude={"ref"}),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class PreparedDataCache:
    """Entries under `root`, at most `max_bytes` in all (least recently used evicted first)."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def hashes(self) -> Path:
        return self.root / ".file-hashes"

    def key_for(
        self, spec: JobSpec, *, file_roots: Sequence[Path], uploads: Callable[[str], Path] | None = None
    ) -> str | None:
        identity = dataset_identity(spec, file_roots=file_roots, uploads=uploads, hashes=self.hashes)
        return None if identity is None else preparation_key(spec, identity)

    @contextlib.contextmanager
    def preparing(self, key: str, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Held while one process prepares `key`: the others wait here (calling `on_wait` once
        when they must), then find its entry. The lock goes with the process that holds it."""
        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        with (locks / f"{key}.lock").open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    on_wait()
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def get(self, key: str) -> CachedPreparation | None:
        """The entry, or None; an entry that fails its checks is removed (the caller prepares again)."""
        entry = self.root / key
        if not (entry / META).is_file():
            return None
        started = time.monotonic()
        try:
            cached = _read_entry(entry, key)
        except FileNotFoundError:
            return None  # evicted while being read
        except Exception:  # noqa: BLE001 - any unreadable entry is a miss, never a failed job
            self.remove(key)
            return None
        self._mark_used(key)
        cached.seconds = time.monotonic() - started
        return cached

    def put(self, key: str, data: PreparedData, extras: dict[str, Any] | None = None) -> str | None:
        """Store an entry; returns None when stored, else why not (too big for the cache, not cacheable)."""
        arrays = _arrays(data)
        size = sum(array.nbytes for array in arrays.values())
        if size > self.max_bytes:
            return f"{size} bytes is more than ADAMANT_PREPARED_CACHE_BYTES={self.max_bytes}"
        staging = self.staging(key)
        try:
            for name, array in arrays.items():
                np.save(staging / f"{name}.npy", array, allow_pickle=False)
            self._publish(key, staging, data, extras)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return None

    def staging(self, key: str) -> Path:
        """A new folder in the cache's file system where an entry of `key` is written before `adopt`/`put`."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".tmp-{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        return staging

    def adopt(self, key: str, staging: Path, data: PreparedData, extras: dict[str, Any] | None = None) -> str | None:
        """Make the arrays already written as .npy files in `staging` (a `staging` folder) the
        entry of `key`, renamed into place; returns None when stored, else why not (the caller
        then removes the folder). What a streamed preparation writes is stored without a copy."""
        size = sum(path.stat().st_size for path in staging.glob("*.npy"))
        if size > self.max_bytes:
            return f"{size} bytes is more than ADAMANT_PREPARED_CACHE_BYTES={self.max_bytes}"
        self._publish(key, staging, data, extras)
        return None

    def _publish(self, key: str, staging: Path, data: PreparedData, extras: dict[str, Any] | None) -> None:
        meta = {"arrays": _recorded(staging), "format": ENTRY_FORMAT, "key": key, "created_at": time.time(), "extras": extras or {}}
        meta["scalars"] = {name: getattr(data, name) for name in SCALAR_FIELDS}
        meta["preprocessing"] = data.preprocessing.to_dict()
        (staging / META).write_text(json.dumps(meta, default=_json_default))
        try:
            os.rename(staging, self.root / key)
        except OSError:
            if not (self.root / key / META).is_file():
                raise
            # Another process stored the same key first: its entry stands.
        self._mark_used(key)
        self.evict()

    def _mark_used(self, key: str) -> None:
        """Stamp the entry as the most recently used: its META's mtime, strictly after every other
        entry's (file times can be as coarse as a kernel tick, and two uses in one tick would tie)."""
        newest = max((used for other, _, used in self.entries() if other != key), default=0)
        stamp = max(time.time_ns(), newest + 1_000)
        with contextlib.suppress(OSError):
            os.utime(self.root / key / META, ns=(stamp, stamp))

    def remove(self, key: str) -> None:
        entry = self.root / key
        trash = self.root / f".trash-{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(entry, trash)  # out of sight at once; readers that mapped its files keep them
        except OSError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def entries(self) -> list[tuple[str, int, int]]:
        """(key, bytes, last used in ns) of every entry, least recently used first."""
        found = []
        if not self.root.is_dir():
            return found
        for entry in self.root.iterdir():
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            try:
                size = sum(path.stat().st_size for path in entry.iterdir())
                found.append((entry.name, size, (entry / META).stat().st_mtime_ns))
            except OSError:
                continue
        return sorted(found, key=lambda item: item[2])

    def evict(self) -> list[str]:
        """Remove least recently used entries until the total fits in max_bytes; returns their keys."""
        self._sweep_temporaries()
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        evicted = []
        for key, size, _ in entries:
            if total <= self.max_bytes:
                break
            self.remove(key)
            total -= size
            evicted.append(key)
        return evicted

    def _sweep_temporaries(self) -> None:
        """Staging and trash folders of processes that died mid-write."""
        cutoff = time.time() - STALE_TEMPORARY_S
        for path in self.root.glob(".t*-*"):
            with contextlib.suppress(OSError):
                if path.is_dir() and path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)


def _arrays(data: PreparedData) -> dict[str, np.ndarray]:
    arrays = {}
    for name in ARRAY_FIELDS:
        value = getattr(data, name)
        if value is None:
            continue
        array = np.asarray(value)
        if array.dtype == object:
            if not all(isinstance(item, str) for item in array.ravel().tolist()):
                raise NotCacheable(f"{name} holds values other than text (an id column of mixed types)")
            array = array.astype(str) if array.size else np.zeros(array.shape, dtype="<U1")
        arrays[name] = array
    return arrays


def _recorded(folder: Path) -> dict[str, Any]:
    """Each array file's size, sha256, modification time and inode (a rename into place keeps
    both), shape and whether it holds text, as META records them."""
    recorded = {}
    for path in sorted(folder.glob("*.npy")):
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        stat = path.stat()
        recorded[path.stem] = {
            "bytes": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "inode": stat.st_ino,
            "sha256": sha256_of(path),
            "text": array.dtype.kind == "U",
            "shape": list(array.shape),
        }
        del array
    return recorded


def _read_entry(entry: Path, key: str) -> CachedPreparation:
    meta = json.loads((entry / META).read_text())
    if meta.get("format") != ENTRY_FORMAT or meta.get("key") != key:
        raise ValueError(f"{entry}: not an entry of this cache")
    arrays: dict[str, np.ndarray] = {}
    for name, recorded in meta["arrays"].items():
        if name not in ARRAY_FIELDS:
            raise ValueError(f"{entry}: unknown array {name!r}")
        path = entry / f"{name}.npy"
        if not _unchanged(path, recorded) and (path.stat().st_size != recorded["bytes"] or sha256_of(path) != recorded["sha256"]):
            raise ValueError(f"{entry}: {name}.npy does not match its recorded size and sha256")
        array = np.load(path, mmap_mode="c", allow_pickle=False)
        if list(array.shape) != recorded["shape"]:
            raise ValueError(f"{entry}: {name}.npy has shape {array.shape}, not {recorded['shape']}")
        arrays[name] = array.astype(object) if recorded["text"] else array
    scalars = meta["scalars"]
    data = PreparedData(
        preprocessing=Preprocessing.from_dict(meta["preprocessing"]),
        **{name: arrays.get(name) for name in ARRAY_FIELDS},
        **{name: scalars[name] for name in SCALAR_FIELDS},
    )
    return CachedPreparation(key=key, data=data, extras=meta.get("extras") or {})


def _unchanged(path: Path, recorded: dict[str, Any]) -> bool:
    """The file is the one published: same size, modification time and inode (no write since)."""
    stat = path.stat()
    return (stat.st_size == recorded["bytes"] and stat.st_mtime_ns == recorded.get("mtime_ns")
            and stat.st_ino == recorded.get("inode"))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _write_atomically(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    temporary.write_bytes(content)
    os.replace(temporary, path)
