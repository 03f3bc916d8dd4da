"""A job's metrics (incremental or downsampled), logs and live event stream."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from adamant.store import jobs as store_jobs
from adamant.store import logs as store_logs
from adamant.store import metrics as store_metrics
from service.api.deps import CallerDep, SessionDep
from service.api.events import job_event_stream
from service.api.problems import Problem
from service.api.query import parse_query, query_parameters
from service.api.schemas import DownsampledMetrics, LogsPage, MetricsPage
from service.api.views import log_view, metric_view

router = APIRouter(prefix="/v1/jobs/{job_id}", tags=["metrics"])
MAX_CURSOR = 2**62  # sequences are 64-bit in the database


def _names(names: list[str] | None) -> list[str] | None:
    if not names:
        return None
    return [n for part in names for n in part.split(",") if n]


class MetricsQuery(BaseModel):
    """The metrics route's query, validated as one model (one validation per poll, not four)."""

    after: int = Field(0, ge=0, le=MAX_CURSOR, description="Cursor: return only points after it")
    names: list[str] | None = Field(None, description="Only these metrics (repeat: ?names=loss&names=val_auc, or comma-separated)")
    limit: int = Field(5000, ge=1, le=10_000)
    max_points: int | None = Field(None, ge=4, le=10_000, description="Downsample each series to at most N points (min/max/first/last per bucket)")


@router.get("/metrics", response_model=MetricsPage | DownsampledMetrics, openapi_extra=query_parameters(MetricsQuery))
async def job_metrics(job_id: str, caller: CallerDep, request: Request) -> Response | MetricsPage | DownsampledMetrics:
    """Incremental: `?after=CURSOR` returns only new points and the next cursor, so a poll moves
    only new bytes (a poll with nothing new is answered from memory). `?max_points=N` returns
    the whole history downsampled instead."""
    query = parse_query(MetricsQuery, request)  # one validation per poll (service/api/query.py)
    snapshot = await request.app.state.snapshots.get(caller.tenant_id, job_id)
    if query.max_points is None and query.after >= snapshot.metric_seq:
        # Nothing new: the MetricsPage of no points, written directly (the hottest poll there is).
        body = b'{"points":[],"next_cursor":%d,"job_status":"%s"}' % (query.after, snapshot.status.encode())
        return Response(body, media_type="application/json")
    return await run_in_threadpool(
        _read_metrics, request.app.state.sessions, job_id, snapshot.status, query.after, _names(query.names), query.limit, query.max_points
    )


def _read_metrics(sessions, job_id: str, job_status: str, after: int, names: list[str] | None, limit: int,  # type: ignore[no-untyped-def]
                  max_points: int | None) -> MetricsPage | DownsampledMetrics:
    with sessions() as session:
        if max_points is not None:
            series = store_metrics.downsample_metrics(session, job_id, names=names, max_points=max_points)
            return DownsampledMetrics(
                series={name: [metric_view(p) for p in points] for name, points in series.items()},
                max_points=max_points,
                job_status=job_status,
            )
        points, cursor = store_metrics.next_metrics(session, job_id, after=after, names=names, limit=limit)
    return MetricsPage(points=[metric_view(p) for p in points], next_cursor=cursor, job_status=job_status)


@router.get("/logs", response_model=LogsPage)
def job_logs(
    job_id: str,
    caller: CallerDep,
    session: SessionDep,
    after: Annotated[int, Query(ge=0, le=MAX_CURSOR)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> LogsPage:
    store_jobs.get_job(session, caller.tenant_id, job_id)
    lines, cursor = store_logs.next_logs(session, job_id, after=after, limit=limit)
    return LogsPage(lines=[log_view(line) for line in lines], next_cursor=cursor)


@router.get("/events", response_class=StreamingResponse, responses={429: {"description": "Too many open streams"}})
async def job_events(
    job_id: str, caller: CallerDep, request: Request,
    after: Annotated[int, Query(ge=0, le=MAX_CURSOR)] = 0,
) -> StreamingResponse:
    """Server-Sent Events: `state` (each status change), `metrics` (new points), `checkpoint`,
    `progress`, and `end` when the job has finished. A tenant may keep
    ADAMANT_MAX_STREAMS_PER_TENANT streams open; one more answers 429."""
    # No session dependency: it would hold a pooled connection for as long as the stream runs.
    await request.app.state.snapshots.get(caller.tenant_id, job_id)  # NotFound for another tenant's job
    streams = request.app.state.event_streams
    slot = streams.try_open(caller.tenant_id)
    if slot is None:
        raise Problem(429, "Too many event streams",
                      f"this tenant already has {streams.max_per_tenant} event streams open; close one, or retry later",
                      kind="too-many-streams", headers={"Retry-After": "5"})
    return StreamingResponse(
        job_event_stream(request, slot, caller.tenant_id, job_id, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
