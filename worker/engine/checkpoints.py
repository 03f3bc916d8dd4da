"""Checkpoints on disk: safetensors for tensors, a JSON manifest for everything else.

Layout under a run directory:

    checkpoints/step-00000420/  model.safetensors  optimizer.safetensors  trainer.safetensors  manifest.json
    best/                       the same files, a copy of the best checkpoint so far

No pickle anywhere: a checkpoint can come back from a user (init_from, downloads) and
safetensors/JSON cannot execute code. Each directory is written beside its final name,
fsynced, then renamed into place, so a crash leaves either the old checkpoint or the new one,
never half of one; the manifest records every file's sha256, checked on load.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from adamant.checkpoint_files import FORMAT, MANIFEST, read_manifest, sha256_of, verify_checkpoint
from adamant.exceptions import CheckpointError

TENSOR_FILES = ("model.safetensors", "optimizer.safetensors", "trainer.safetensors")


@dataclass
class CheckpointPayload:
    """Everything one checkpoint holds, in memory."""

    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]  # torch's Optimizer.state_dict() format
    trainer_tensors: dict[str, torch.Tensor]
    manifest: dict[str, Any]  # step, epoch, metrics, spec, preprocessing, trainer scalars


def flatten_optimizer_state(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split torch's optimizer state_dict into tensors (for safetensors) and JSON (the rest)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                value = value.detach()
                if value.is_sparse:  # safetensors holds dense tensors; the values are the same
                    value = value.to_dense()
                tensors[f"state.{index}.{key}"] = value.contiguous().cpu()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unflatten_optimizer_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    for index, entries in meta.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(entries)
    return {"state": state, "param_groups": meta["param_groups"]}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path))
    with path.open("rb") as f:
        os.fsync(f.fileno())


def _replace_dir(staging: Path, final: Path) -> None:
    """Swap a fully written staging directory into place; the old one is removed after."""
    old = final.with_name(final.name + f".old-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    _fsync_dir(final.parent)
    shutil.rmtree(old, ignore_errors=True)


def write_checkpoint(directory: Path, payload: CheckpointPayload) -> tuple[str, int]:
    """Write a checkpoint atomically; returns (sha256 of the manifest, total bytes)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.with_name(f".staging-{directory.name}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    opt_tensors, opt_meta = flatten_optimizer_state(payload.optimizer_state)
    _write_tensors(staging / "model.safetensors", payload.model_state)
    _write_tensors(staging / "optimizer.safetensors", opt_tensors)
    _write_tensors(staging / "trainer.safetensors", payload.trainer_tensors)
    files = {name: {"sha256": sha256_of(staging / name), "bytes": (staging / name).stat().st_size} for name in TENSOR_FILES}
    manifest = {
        "format": FORMAT,
        "created_at": time.time(),
        **payload.manifest,
        "optimizer": opt_meta,
        "files": files,
    }
    manifest_path = staging / MANIFEST
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True, default=_json_default))
    with manifest_path.open("rb") as f:
        os.fsync(f.fileno())
    _fsync_dir(staging)
    _replace_dir(staging, directory)
    total = sum(f["bytes"] for f in files.values()) + (directory / MANIFEST).stat().st_size
    return sha256_of(directory / MANIFEST), total


def _json_default(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def load_checkpoint(directory: Path, *, verify: bool = True) -> CheckpointPayload:
    manifest = verify_checkpoint(directory) if verify else read_manifest(directory)
    try:
        model_state = load_file(str(directory / "model.safetensors"))
        opt_tensors = load_file(str(directory / "optimizer.safetensors"))
        trainer_tensors = load_file(str(directory / "trainer.safetensors"))
    except Exception as exc:  # safetensors raises its own types for torn or foreign files
        raise CheckpointError(f"checkpoint {directory} cannot be read: {exc}") from exc
    optimizer_state = unflatten_optimizer_state(opt_tensors, manifest["optimizer"])
    return CheckpointPayload(model_state, optimizer_state, trainer_tensors, manifest)


def step_directory(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step-{step:08d}"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoint directories, oldest first (staging leftovers are ignored)."""
    root = run_dir / "checkpoints"
    if not root.exists():
        return []
    return sorted(p for p in root.iterdir() if p.name.startswith("step-") and (p / MANIFEST).exists())


def latest_valid_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoint whose files match their hashes; a torn one falls back to the previous."""
    for directory in reversed(list_checkpoints(run_dir)):
        try:
            verify_checkpoint(directory)
        except CheckpointError:
            continue
        return directory
    return None


def prune_checkpoints(run_dir: Path, keep_last: int, keep: Path | None = None) -> list[Path]:
    """Delete all but the newest keep_last checkpoints and `keep` (the best); returns what went."""
    doomed = list_checkpoints(run_dir)[:-keep_last] if keep_last > 0 else []
    doomed = [d for d in doomed if keep is None or d.name != keep.name]
    for directory in doomed:
        shutil.rmtree(directory, ignore_errors=True)
    return doomed


def publish_best(run_dir: Path, source: Path) -> Path:
    """Make run_dir/best an atomic copy of `source` (hard links where the filesystem allows)."""
    best = run_dir / "best"
    staging = run_dir / f".staging-best-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for item in source.iterdir():
        try:
            os.link(item, staging / item.name)
        except OSError:
            shutil.copy2(item, staging / item.name)
    _fsync_dir(staging)
    _replace_dir(staging, best)
    return best
