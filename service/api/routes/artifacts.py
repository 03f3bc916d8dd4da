"""A job's other artifacts: its TensorBoard event files (read from the local artifact root:
workers do not upload them to ADAMANT_ARTIFACTS_URL)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse

from adamant.artifacts import ArtifactNotFound, LocalArtifacts
from adamant.exceptions import CheckpointError
from adamant.store import jobs as store_jobs
from service.api.deps import CallerDep, SessionDep, SettingsDep
from service.archives import FolderTar

router = APIRouter(prefix="/v1/jobs/{job_id}", tags=["artifacts"])


@router.get("/tensorboard", response_class=Response, responses={200: {"content": {"application/x-tar": {}}}})
def download_tensorboard(job_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep) -> StreamingResponse:
    """The job's TensorBoard event files as a tar, written as it streams: extract and run
    `tensorboard --logdir DIR`."""
    store_jobs.get_job(session, caller.tenant_id, job_id)
    try:
        key = (settings.job_dir(job_id) / "run" / "tensorboard").relative_to(settings.artifact_root).as_posix()
        tar = FolderTar(LocalArtifacts(settings.artifact_root), key)
    except ArtifactNotFound as exc:
        raise CheckpointError(f"job {job_id} has no TensorBoard files yet") from exc
    session.close()  # the download must not hold a pooled connection while it streams
    return StreamingResponse(tar.chunks(), media_type="application/x-tar", headers={
        "Content-Length": str(tar.length),
        "Content-Disposition": f'attachment; filename="{job_id}-tensorboard.tar"',
    })
