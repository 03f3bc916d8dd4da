"""The checkpoint directory format, torch-free: names, the manifest, and the sha256 check.

Written by worker/engine/checkpoints.py (which needs torch for the tensors), read by it, by
the torch-free scorer in the service, and by clients verifying a download. A checkpoint is a
directory of safetensors files and a manifest.json that records each file's sha256; the
checkpoint's own sha256 is the manifest's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from adamant.exceptions import CheckpointError

FORMAT = "adamant-checkpoint/1"
MANIFEST = "manifest.json"
MODEL_FILE = "model.safetensors"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise CheckpointError(f"no checkpoint at {directory} (missing {MANIFEST})") from exc
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint manifest {path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise CheckpointError(f"{path}: unknown checkpoint format {found!r}")
    return manifest


def verify_checkpoint(directory: Path, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest, once every file it lists exists and matches its recorded sha256."""
    directory = Path(directory)
    manifest = manifest or read_manifest(directory)
    files = manifest.get("files") or {}
    if MODEL_FILE not in files:
        raise CheckpointError(f"checkpoint {directory}: the manifest records no sha256 for {MODEL_FILE}")
    for name, expected in files.items():
        path = directory / name
        if not path.is_file():
            raise CheckpointError(f"checkpoint {directory} is missing {name}")
        actual = sha256_of(path)
        if actual != expected["sha256"]:
            raise CheckpointError(f"checkpoint {directory}: {name} sha256 {actual} != recorded {expected['sha256']}")
    return manifest
