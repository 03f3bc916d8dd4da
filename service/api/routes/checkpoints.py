"""A job's checkpoints: list with step, metrics, size and sha256; download one as a tar.

Files are read from the artifact store (adamant/artifacts): the local artifact root, or the
fsspec store of ADAMANT_ARTIFACTS_URL that workers upload their checkpoints to.
"""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from adamant.artifacts import ArtifactNotFound, ArtifactStore, artifact_store
from adamant.checkpoint_files import MANIFEST
from adamant.exceptions import CheckpointError
from adamant.store import checkpoints as store_checkpoints
from adamant.store import jobs as store_jobs
from service.api.deps import CallerDep, SessionDep, SettingsDep
from service.api.schemas import CheckpointList
from service.views import checkpoint_view

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


def deterministic_tar(store: ArtifactStore, key: str) -> bytes:
    """The files directly under `key` in a tar with fixed metadata, so the same checkpoint
    downloads byte-identical every time; ArtifactNotFound when there are none."""
    base = key.strip("/")
    names = [k[len(base) + 1 :] for k in store.list(base) if k.startswith(base + "/") and "/" not in k[len(base) + 1 :]]
    if not names:
        raise ArtifactNotFound(base)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(names):
            info = tarfile.TarInfo(name=f"{base.rsplit('/', 1)[-1]}/{name}")
            info.size = store.size(f"{base}/{name}")
            info.mtime, info.mode, info.uid, info.gid = 0, 0o644, 0, 0
            with store.open(f"{base}/{name}") as f:
                tar.addfile(info, f)
    return buffer.getvalue()


@router.get("/{checkpoint_id}/download", response_class=Response, responses={200: {"content": {"application/x-tar": {}}}})
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
    try:
        body = deterministic_tar(artifact_store(settings), checkpoint.path)
    except ArtifactNotFound as exc:
        raise CheckpointError(f"checkpoint {checkpoint.id} is no longer in the artifact store (pruned)") from exc
    filename = f"{job_id}-step-{checkpoint.step}.tar"
    return Response(body, media_type="application/x-tar", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Checkpoint-Sha256": checkpoint.sha256,
        "X-Checkpoint-Step": str(checkpoint.step),
    })
