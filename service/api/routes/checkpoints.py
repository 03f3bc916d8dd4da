"""A job's checkpoints: list with step, metrics, size and sha256; download one as a tar (streamed).

Files are read from the artifact store (adamant/artifacts): the local artifact root, or the
fsspec store of ADAMANT_ARTIFACTS_URL that workers upload their checkpoints to.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse

from adamant.artifacts import ArtifactNotFound, ArtifactStore, artifact_store
from adamant.checkpoint_files import MANIFEST
from adamant.exceptions import CheckpointError
from adamant.store import checkpoints as store_checkpoints
from adamant.store import jobs as store_jobs
from service.api.deps import CallerDep, SessionDep, SettingsDep
from service.api.schemas import CheckpointList
from service.api.views import checkpoint_view
from service.archives import FolderTar

router = APIRouter(prefix="/v1/jobs/{job_id}/checkpoints", tags=["checkpoints"])


def _files(store: ArtifactStore, key: str) -> dict[str, Any]:
    try:
        with store.open(f"{key}/{MANIFEST}") as f:
            manifest = json.load(f)
    except (ArtifactNotFound, OSError, ValueError):
        return {}
    return manifest.get("files", {}) if isinstance(manifest, dict) else {}


@router.get("", response_model=CheckpointList)
def list_checkpoints(job_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep) -> CheckpointList:
    """Each checkpoint's sha256 is its manifest's; the manifest lists every file's sha256."""
    store_jobs.get_job(session, caller.tenant_id, job_id)
    rows = store_checkpoints.list_checkpoints(session, job_id)
    store = artifact_store(settings)
    return CheckpointList(checkpoints=[checkpoint_view(job_id, c, _files(store, c.path)) for c in rows])


@router.get("/{checkpoint_id}/download", response_class=Response, responses={200: {"content": {"application/x-tar": {}}}})
def download_checkpoint(job_id: str, checkpoint_id: str, caller: CallerDep, session: SessionDep,
                        settings: SettingsDep) -> StreamingResponse:
    """A tar of the checkpoint directory (`best` names the best one), written as it streams. Verify it: the sha256 of
    manifest.json equals the checkpoint's sha256, and each file matches the manifest."""
    store_jobs.get_job(session, caller.tenant_id, job_id)
    checkpoint = (
        store_checkpoints.best_checkpoint(session, job_id)
        if checkpoint_id == "best"
        else store_checkpoints.get_checkpoint(session, job_id, checkpoint_id)
    )
    if checkpoint is None:
        raise CheckpointError(f"job {job_id} has no best checkpoint yet")
    try:
        tar = FolderTar(artifact_store(settings), checkpoint.path)
    except ArtifactNotFound as exc:
        raise CheckpointError(f"checkpoint {checkpoint.id} is no longer in the artifact store (pruned)") from exc
    session.close()  # the download may take minutes: it must not hold a pooled connection meanwhile
    filename = f"{job_id}-step-{checkpoint.step}.tar"
    return StreamingResponse(tar.chunks(), media_type="application/x-tar", headers={
        "Content-Length": str(tar.length),
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Checkpoint-Sha256": checkpoint.sha256,
        "X-Checkpoint-Step": str(checkpoint.step),
    })
