"""Scoring jobs: score a whole table with a trained job's model as a job; its file and report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import FileResponse

from adamant.scoring.job_spec import ScoringRequest
from adamant.store import jobs as store_jobs
from service.api.deps import CallerDep, CeleryDep, SessionDep, SettingsDep
from service.api.schemas import JobList, JobOut
from service.api.views import creation_event, job_view
from service.scoring_jobs import MEDIA_TYPES, scoring_job_file, submit_scoring_job

router = APIRouter(prefix="/v1/jobs/{job_id}", tags=["batch scoring"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


@router.post("/predictions", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
def score_table(
    job_id: str,
    body: ScoringRequest,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    celery: CeleryDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    """Score a whole table with the model of training job `job_id` (which must have succeeded).
    Answers 202 with the scoring job (kind `score`, parent_id `job_id`) and its Location. When it
    succeeds, its result summarises the output, the evaluation on labelled rows and the drift
    against the training data; `/predictions/file` and `/report` of the scoring job serve the rest."""
    job, created = submit_scoring_job(session, celery, settings, caller, job_id, body, idempotency_key=idempotency_key)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
        return job_view(job, store_jobs.job_events(session, job.id))
    return job_view(job, [creation_event(job)])


@router.get("/predictions", response_model=JobList)
def list_scoring_jobs(
    job_id: str,
    caller: CallerDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> JobList:
    """The scoring jobs of training job `job_id`, newest first."""
    store_jobs.get_job(session, caller.tenant_id, job_id)
    jobs, next_cursor = store_jobs.list_jobs(session, caller.tenant_id, parent_id=job_id, limit=limit, cursor=cursor)
    return JobList(jobs=[job_view(job) for job in jobs if job.kind == "score"], next_cursor=next_cursor)


@router.get(
    "/predictions/file",
    response_class=FileResponse,
    responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}},
)
def download_predictions(job_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep) -> FileResponse:
    """The output of scoring job `job_id`: one row per input row, in input order, id first (or the
    top-k rows per user of a recommender). `X-Content-Sha256` is the file's sha256."""
    job, path = scoring_job_file(session, settings, caller.tenant_id, job_id, "output")
    fmt = job.result["format"]
    return FileResponse(path, media_type=MEDIA_TYPES[fmt], filename=f"{job_id}-predictions.{fmt}", headers={
        "X-Content-Sha256": job.result["sha256"],
        "ETag": f'"{job.result["sha256"]}"',
    })


@router.get("/report", responses={200: {"content": {"application/json": {}}}})
def scoring_report(job_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep) -> Response:
    """The report of scoring job `job_id`: output summary; on labelled rows, gains by decile, lift and
    AUC (binary), accuracy (multiclass), RMSE and MAE (regression, ratings); segment sizes; and the
    drift against the training data: per-feature PSI, distribution shift, score shift, a verdict."""
    _, path = scoring_job_file(session, settings, caller.tenant_id, job_id, "report")
    return Response(path.read_bytes(), media_type="application/json")
