"""Tar archives the service sends — a checkpoint, a job's TensorBoard files — unpacked without
trusting the names inside them, and a checkpoint only once every file matches its sha256.

The service's archives are flat: `<directory>/<file>` members. Anything else (links, devices,
nested or absolute paths, `..`) is refused rather than written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from client.exceptions import IntegrityError

MANIFEST = "manifest.json"
CHUNK = 1 << 20


def unpack_checkpoint(archive: Path, expected_sha256: str, dest: Path) -> dict[str, Any]:
    """Unpack a checkpoint tar into `dest` and return its manifest, after checking that the
    manifest's sha256 is `expected_sha256` (what the service listed) and that every file the
    manifest lists is present with its recorded sha256. Nothing lands in `dest` otherwise."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        digests = _extract_flat(archive, staging)
        manifest = _verified_manifest(staging, digests, expected_sha256)
        _move_into(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def unpack_files(archive: Path, dest: Path) -> list[Path]:
    """Unpack a flat tar into `dest` (created, or added to); returns the files written. An archive
    with a name that would land outside `dest` is refused whole: nothing is written."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        names = _extract_flat(archive, staging)
        _move_into(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(dest / name for name in names)


def _extract_flat(archive: Path, directory: Path) -> dict[str, str]:
    """Write each regular file of the archive into `directory`; returns name -> sha256."""
    digests: dict[str, str] = {}
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for member in tar:
                if member.isdir():
                    continue
                name = _flat_name(member)
                if name in digests:
                    raise IntegrityError(f"the archive holds {name!r} twice")
                source = tar.extractfile(member)
                assert source is not None  # a regular file, checked by _flat_name
                digest = hashlib.sha256()
                with (directory / name).open("wb") as target:
                    for chunk in iter(lambda: source.read(CHUNK), b""):
                        digest.update(chunk)
                        target.write(chunk)
                digests[name] = digest.hexdigest()
    except tarfile.TarError as exc:
        raise IntegrityError(f"the download is not a readable tar archive: {exc}") from exc
    return digests


def _flat_name(member: tarfile.TarInfo) -> str:
    if not member.isfile():
        raise IntegrityError(f"the archive holds {member.name!r}, which is not a regular file")
    parts = PurePosixPath(member.name).parts
    if len(parts) == 2 and parts[0] not in ("/", "..", "."):  # <directory>/<file>
        parts = parts[1:]
    if len(parts) != 1 or parts[0] in ("..", ".") or "\\" in parts[0]:
        raise IntegrityError(f"the archive holds {member.name!r}, outside the one directory it should have")
    return parts[0]


def _verified_manifest(directory: Path, digests: dict[str, str], expected_sha256: str) -> dict[str, Any]:
    if MANIFEST not in digests:
        raise IntegrityError(f"the checkpoint archive has no {MANIFEST}")
    if digests[MANIFEST] != expected_sha256:
        raise IntegrityError(f"{MANIFEST} has sha256 {digests[MANIFEST]}, but the service listed {expected_sha256}")
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        files: dict[str, Any] = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"{MANIFEST} does not list the checkpoint's files: {exc}") from exc
    for name, entry in files.items():
        if name not in digests:
            raise IntegrityError(f"the checkpoint archive is missing {name}")
        if digests[name] != entry.get("sha256"):
            raise IntegrityError(f"{name} has sha256 {digests[name]}, but the manifest records {entry.get('sha256')}")
    unlisted = sorted(set(digests) - set(files) - {MANIFEST})
    if unlisted:
        raise IntegrityError(f"the checkpoint archive holds files its manifest does not list: {', '.join(unlisted)}")
    return manifest


def _move_into(staging: Path, dest: Path) -> None:
    if not dest.exists():
        os.replace(staging, dest)
        return
    if not dest.is_dir():
        raise NotADirectoryError(f"{dest} exists and is not a directory")
    for path in staging.iterdir():
        os.replace(path, dest / path.name)
