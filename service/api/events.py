"""A job's live event stream (Server-Sent Events): state changes, metric points, checkpoints.

Each stream sends only what is new since its last look — the same incremental cursors the
JSON endpoints use — and ends (event `end`) once the job is finished and drained.

An open stream costs no database connection and no thread while it waits: it sleeps on the
event loop, and every half second asks `EventStreams.changes`, which reads the database in a
worker thread with a session held only for that read. Those reads are shared: streams of one
job that have seen the same things ask the same question, and one read (in flight, or made in
the last moment) answers all of them, so a job watched by a hundred dashboards costs about one
read per poll. At most `MAX_CONCURRENT_READS` reads run at once, so streams can never take
more than that many pooled connections from the requests beside them. Each tenant may keep
`ADAMANT_MAX_STREAMS_PER_TENANT` streams open per service process.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from adamant.store import checkpoints as store_checkpoints
from adamant.store import jobs as store_jobs
from adamant.store import metrics as store_metrics
from adamant.store.exceptions import NotFound, StoreUnavailable
from service.api.views import checkpoint_view, event_view, metric_view

POLL_S = 0.5
TERMINAL = {"succeeded", "failed", "cancelled"}
KEEPALIVE_S = 15.0
MAX_CONCURRENT_READS = 4  # below the smallest pool (SQLite's QueuePool: 5)
METRIC_PAGE = 2000
METRIC_PAGES_PER_READ = 5  # a long history goes out over several short reads, not one long one
SHARED_READ_S = POLL_S * 0.8  # how long one read answers the streams asking the same question


def sse(event: str, data: Any, event_id: str | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


@dataclass(frozen=True)
class Cursors:
    """What a stream has sent so far; two streams with equal cursors are owed the same chunks."""

    event: int = 0
    metric: int = 0
    checkpoints: frozenset[str] = frozenset()
    version: int | None = None


@dataclass(frozen=True)
class Changes:
    chunks: tuple[str, ...]
    cursors: Cursors
    finished: bool  # the job has ended
    more: bool  # metric points are left for the next read: read again without waiting
    gone: bool = False  # the job was deleted


def read_changes(session: Session, tenant_id: str, job_id: str, cursors: Cursors) -> Changes:
    """The chunks owed to a stream at `cursors`, and its cursors after them."""
    try:
        job = store_jobs.get_job(session, tenant_id, job_id)
    except NotFound:
        return Changes((), cursors, finished=True, more=False, gone=True)
    out: list[str] = []
    event_cursor, metric_cursor = cursors.event, cursors.metric
    # The job row's counters say whether there is anything to read at all.
    if job.event_seq > event_cursor:
        for event in store_jobs.job_events(session, job_id, after_seq=event_cursor):
            out.append(sse("state", event_view(event).model_dump(), f"e{event.seq}"))
            event_cursor = event.seq
    more = False
    for _ in range(METRIC_PAGES_PER_READ):
        if job.metric_seq <= metric_cursor:
            break
        points, next_cursor = store_metrics.next_metrics(session, job_id, after=metric_cursor, limit=METRIC_PAGE)
        if not points:
            break
        page = {"points": [metric_view(p).model_dump() for p in points], "next_cursor": next_cursor}
        out.append(sse("metrics", page, f"m{next_cursor}"))
        metric_cursor = next_cursor
    else:
        more = job.metric_seq > metric_cursor
    seen = set(cursors.checkpoints)
    for checkpoint in store_checkpoints.list_checkpoints(session, job_id):
        if checkpoint.id not in seen:
            seen.add(checkpoint.id)
            out.append(sse("checkpoint", checkpoint_view(job_id, checkpoint).model_dump()))
    version = cursors.version
    if job.version != version:
        version = job.version
        out.append(sse("progress", {"status": str(job.status), "phase": job.phase, "progress": job.progress or {}}))
    after = Cursors(event_cursor, metric_cursor, frozenset(seen), version)
    return Changes(tuple(out), after, finished=str(job.status) in TERMINAL, more=more)


class StreamSlot:
    """One open stream of a tenant; released when the stream ends, or when it is garbage
    collected without having run (a client that left before the first byte)."""

    def __init__(self, counts: dict[str, int], tenant_id: str) -> None:
        counts[tenant_id] = counts.get(tenant_id, 0) + 1
        self._release = weakref.finalize(self, _forget_stream, counts, tenant_id)

    def release(self) -> None:
        self._release()  # runs at most once


def _forget_stream(counts: dict[str, int], tenant_id: str) -> None:
    left = counts.get(tenant_id, 0) - 1
    if left > 0:
        counts[tenant_id] = left
    else:
        counts.pop(tenant_id, None)


class EventStreams:
    """What the event streams of one service process share: the count of open streams per
    tenant, and their database reads (made in a thread, a few at a time, shared by the
    streams asking the same question)."""

    def __init__(self, sessions: Callable[[], Session], max_per_tenant: int,
                 max_concurrent_reads: int = MAX_CONCURRENT_READS) -> None:
        self.sessions = sessions
        self.max_per_tenant = max_per_tenant
        self.open_streams: dict[str, int] = {}
        self.read_slots = asyncio.Semaphore(max_concurrent_reads)
        self.reads: dict[tuple[str, str, Cursors], tuple[float, asyncio.Future[Changes]]] = {}
        self.reads_pruned_at = 0.0

    def try_open(self, tenant_id: str) -> StreamSlot | None:
        """A slot for a new stream of this tenant, or None when it has max_per_tenant open."""
        if self.open_streams.get(tenant_id, 0) >= self.max_per_tenant:
            return None
        return StreamSlot(self.open_streams, tenant_id)

    async def changes(self, tenant_id: str, job_id: str, cursors: Cursors) -> Changes:
        now = time.monotonic()
        self._prune(now)
        key = (tenant_id, job_id, cursors)
        entry = self.reads.get(key)
        if entry is None or (entry[1].done() and now - entry[0] > SHARED_READ_S):
            future = asyncio.ensure_future(self._read(tenant_id, job_id, cursors))
            future.add_done_callback(lambda done: self._forget_failed(key, done))
            entry = (now, future)
            self.reads[key] = entry
        return await asyncio.shield(entry[1])

    def _forget_failed(self, key: tuple[str, str, Cursors], read: asyncio.Future[Changes]) -> None:
        # A failed read is not shared with later askers: they try again.
        if read.cancelled() or read.exception() is not None:
            self.reads.pop(key, None)

    async def _read(self, tenant_id: str, job_id: str, cursors: Cursors) -> Changes:
        async with self.read_slots:
            return await asyncio.to_thread(self._read_in_thread, tenant_id, job_id, cursors)

    def _read_in_thread(self, tenant_id: str, job_id: str, cursors: Cursors) -> Changes:
        with self.sessions() as session:
            return read_changes(session, tenant_id, job_id, cursors)

    def _prune(self, now: float) -> None:
        if now - self.reads_pruned_at < SHARED_READ_S:
            return
        self.reads_pruned_at = now
        for key in [k for k, (at, f) in self.reads.items() if f.done() and now - at > SHARED_READ_S]:
            del self.reads[key]


async def job_event_stream(request: Request, slot: StreamSlot, tenant_id: str, job_id: str,
                           after: int = 0) -> AsyncIterator[str]:
    """The stream of one job for one client; `slot` is released when it ends."""
    streams: EventStreams = request.app.state.event_streams
    cursors = replace(Cursors(), metric=after)
    idle = 0.0
    try:
        while not await request.is_disconnected():
            try:
                changes = await streams.changes(tenant_id, job_id, cursors)
            except StoreUnavailable:  # the database is down or busy: keep the stream, try again
                changes = Changes((), cursors, finished=False, more=False)
            cursors = changes.cursors
            for chunk in changes.chunks:
                yield chunk
            if changes.finished and not changes.chunks:
                yield sse("end", {"job_id": job_id})
                return
            if changes.more:
                continue
            idle = 0.0 if changes.chunks else idle + POLL_S
            if idle >= KEEPALIVE_S:
                yield ": keep-alive\n\n"
                idle = 0.0
            await asyncio.sleep(POLL_S)
    finally:
        slot.release()
