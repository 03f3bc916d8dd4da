"""Jobs: submit, dry run, list, show, cancel, resume."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status

from adamant.dispatch import dispatch
from adamant.spec import JobSpec
from adamant.store import jobs as store_jobs
from adamant.store.states import JobStatus
from service.api.deps import CallerDep, CeleryDep, SessionDep, SettingsDep
from service.api.schemas import JobList, JobOut, ValidationReport
from service.api.views import creation_event, job_view
from service.dry_run import dry_run
from service.submission import submit

router = APIRouter(prefix="/v1", tags=["jobs"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


@router.post("/jobs", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
def submit_job(
    spec: JobSpec,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    celery: CeleryDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    """Queue a training job. Answers 202 with the job and its Location; retrying with the same
    Idempotency-Key returns the same job instead of a second one."""
    job, created = submit(session, celery, settings, caller, spec, idempotency_key=idempotency_key)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
        return job_view(job, store_jobs.job_events(session, job.id))
    return job_view(job, [creation_event(job)])


@router.post("/jobs:validate", response_model=ValidationReport)
def validate_job(spec: JobSpec, caller: CallerDep, session: SessionDep, settings: SettingsDep) -> ValidationReport:
    """Dry run: check the spec against its dataset (columns, target, types) and estimate steps and
    checkpoint size. Nothing is queued."""
    return ValidationReport(**dry_run(session, settings, caller, spec, settings.artifact_root))


@router.get("/jobs", response_model=JobList, responses={304: {"description": "Not modified (ETag)"}})
def list_jobs(
    caller: CallerDep,
    session: SessionDep,
    request: Request,
    status_: Annotated[list[JobStatus] | None, Query(alias="status")] = None,
    parent_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Response:
    """The caller's jobs, newest first, paged by cursor; filter with ?status=running&status=queued.
    Send If-None-Match with the last ETag: a page whose jobs are all unchanged answers 304."""
    jobs, next_cursor = store_jobs.list_jobs(
        session, caller.tenant_id, statuses=status_, parent_id=parent_id, limit=limit, cursor=cursor
    )
    # Each row's version goes up on every change, so the ids and versions name the page's content.
    etag = 'W/"jobs-' + hashlib.sha256(repr(([(j.id, j.version) for j in jobs], next_cursor)).encode()).hexdigest()[:24] + '"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    body = JobList(jobs=[job_view(job) for job in jobs], next_cursor=next_cursor).model_dump_json()
    return Response(body, media_type="application/json", headers={"ETag": etag})


@router.get("/jobs/{job_id}", response_model=JobOut, responses={304: {"description": "Not modified (ETag)"}})
async def show_job(job_id: str, caller: CallerDep, request: Request) -> Response:
    """Status, progress (step, epoch, fraction, steps/s, ETA), best metrics, error, and the history
    of state changes. Send If-None-Match with the last ETag: an unchanged job answers 304.
    Answered from a snapshot at most ADAMANT_POLL_CACHE_S old (service/api/snapshots.py)."""
    snapshot = await request.app.state.snapshots.get(caller.tenant_id, job_id)
    if request.headers.get("if-none-match") == snapshot.etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": snapshot.etag})
    return Response(snapshot.body, media_type="application/json", headers={"ETag": snapshot.etag})


@router.post("/jobs/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
def cancel_job(job_id: str, caller: CallerDep, session: SessionDep, request: Request) -> JobOut:
    """A queued job is cancelled at once; a running one becomes `cancelling` and stops at its next
    step (with a checkpoint, so it can be resumed)."""
    job = store_jobs.request_cancel(session, caller.tenant_id, job_id)
    request.app.state.snapshots.forget(job_id)
    return job_view(job, store_jobs.job_events(session, job.id))


@router.post("/jobs/{job_id}/resume", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
def resume_job(job_id: str, caller: CallerDep, session: SessionDep, celery: CeleryDep, request: Request) -> JobOut:
    """Queue a cancelled or failed job again; it continues from its latest checkpoint."""
    job = store_jobs.resume_job(session, caller.tenant_id, job_id)
    try:
        dispatch(session, celery, job.id, job.queue, job.priority)
    except Exception:  # the outbox sweep publishes it
        pass
    request.app.state.snapshots.forget(job_id)
    job = store_jobs.get_job(session, caller.tenant_id, job_id)
    return job_view(job, store_jobs.job_events(session, job.id))
