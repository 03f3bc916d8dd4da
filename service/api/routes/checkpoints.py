"""A job's checkpoints: list with step, metrics, size and sha256; download one as a tar."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from adamant.checkpoint_files import read_manifest
from adamant.exceptions import CheckpointError
from adamant.store import checkpoints as store_checkpoints
from adamant.store import jobs as store_jobs
from service.api.deps import CallerDep, SessionDep, SettingsDep
from service.api.schemas import CheckpointList
from service.views import checkpoint_view

router = APIRouter(prefix="/v1/jobs/{job_id}/checkpoints", tags=["checkpoints"])


def _files(directory: Path) -> dict:
    try:
        return read_manifest(directory).get("files", {})
    except CheckpointError:
        return {}


@router.get("", response_model=CheckpointList)
def list_checkpoints(job_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep) -> CheckpointList:
    """Each checkpoint's sha256 is its manifest's; the manifest lists every file's sha256."""
    store_jobs.get_job(session, caller.tenant_id, job_id)
    rows = store_checkpoints.list_checkpoints(session, job_id)
    return CheckpointList(checkpoints=[checkpoint_view(job_id, c, _files(settings.artifact_root / c.path)) for c in rows])


def deterministic_tar(directory: Path) -> bytes:
    """The checkpoint's files in a tar with fixed metadata, so the same checkpoint downloads
    byte-identical every time."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(directory.iterdir()):
            if not path.is_file():
                continue
            info = tarfile.TarInfo(name=f"{directory.name}/{path.name}")
            info.size = path.stat().st_size
            info.mtime, info.mode, info.uid, info.gid = 0, 0o644, 0, 0
            with path.open("rb") as f:
                tar.addfile(info, f)
    return buffer.getvalue()


@router.get("/{checkpoint_id}/download")
def download_checkpoint(job_id: str, checkpoint_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep) -> Response:
    """A tar of the checkpoint directory (`best` names the best one). Verify it: the sha256 of
    manifest.json equals the checkpoint's sha256, and each file matches the manifest."""
    store_jobs.get_job(session, caller.tenant_id, job_id)
    checkpoint = (
        store_checkpoints.best_checkpoint(session, job_id)
        if checkpoint_id == "best"
        else store_checkpoints.get_checkpoint(session, job_id, checkpoint_id)
    )
    if checkpoint is None:
        raise CheckpointError(f"job {job_id} has no best checkpoint yet")
    directory = settings.artifact_root / checkpoint.path
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint {checkpoint.id} is no longer on disk (pruned)")
    body = deterministic_tar(directory)
    filename = f"{job_id}-step-{checkpoint.step}.tar"
    return Response(body, media_type="application/x-tar", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Checkpoint-Sha256": checkpoint.sha256,
        "X-Checkpoint-Step": str(checkpoint.step),
    })
