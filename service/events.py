"""A job's live event stream (Server-Sent Events): state changes, metric points, checkpoints.

The stream polls the database every half second and sends only what is new since the last
poll — the same incremental cursors the JSON endpoints use — so a client sees a running job
without polling itself. It ends (event `end`) once the job is finished and drained.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request

from adamant.store import checkpoints as store_checkpoints
from adamant.store import jobs as store_jobs
from adamant.store import metrics as store_metrics
from service.views import checkpoint_view, event_view, metric_view

POLL_S = 0.5
TERMINAL = {"succeeded", "failed", "cancelled"}
KEEPALIVE_S = 15.0


def sse(event: str, data: Any, event_id: str | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


def _changes(sessions, tenant_id: str, job_id: str, cursors: dict[str, Any]) -> tuple[list[str], bool]:  # type: ignore[no-untyped-def]
    out: list[str] = []
    with sessions() as session:
        job = store_jobs.get_job(session, tenant_id, job_id)
        for event in store_jobs.job_events(session, job_id, after_seq=cursors["event"]):
            out.append(sse("state", event_view(event).model_dump(), f"e{event.seq}"))
            cursors["event"] = event.seq
        while True:
            points, cursor = store_metrics.next_metrics(session, job_id, after=cursors["metric"], limit=2000)
            if not points:
                break
            out.append(sse("metrics", {"points": [metric_view(p).model_dump() for p in points], "next_cursor": cursor}, f"m{cursor}"))
            cursors["metric"] = cursor
        for checkpoint in store_checkpoints.list_checkpoints(session, job_id):
            if checkpoint.id not in cursors["checkpoints"]:
                cursors["checkpoints"].add(checkpoint.id)
                out.append(sse("checkpoint", checkpoint_view(job_id, checkpoint).model_dump()))
        if job.version != cursors["version"]:
            cursors["version"] = job.version
            out.append(sse("progress", {"status": str(job.status), "phase": job.phase, "progress": job.progress or {}}))
        finished = str(job.status) in TERMINAL
    return out, finished


async def job_event_stream(request: Request, tenant_id: str, job_id: str, after: int = 0) -> AsyncIterator[str]:
    sessions = request.app.state.sessions
    cursors: dict[str, Any] = {"event": 0, "metric": after, "checkpoints": set(), "version": None}
    idle = 0.0
    while not await request.is_disconnected():
        chunks, finished = await asyncio.to_thread(_changes, sessions, tenant_id, job_id, cursors)
        for chunk in chunks:
            yield chunk
        if finished and not chunks:
            yield sse("end", {"job_id": job_id})
            return
        idle = 0.0 if chunks else idle + POLL_S
        if idle >= KEEPALIVE_S:
            yield ": keep-alive\n\n"
            idle = 0.0
        await asyncio.sleep(POLL_S)
