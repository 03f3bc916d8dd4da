"""Recent job snapshots in memory, so status and "anything new?" polls skip the database.

A dashboard polls each job about once a second, many clients at once. Each service process
keeps, per job, the serialized status body, its ETag (the row's version) and the latest
metric sequence, for at most ADAMANT_POLL_CACHE_S (0.25 s by default) while the job runs or
after it ended: a poll is answered from memory within that window, and every write this
process makes (cancel, resume) drops the job's entry at once. A poll may therefore lag a
change made elsewhere (a worker, another service process) by at most the window. Queued and
cancelling jobs are never cached: their next change is the one a user is waiting for.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from adamant.store import jobs as store_jobs
from adamant.store.exceptions import NotFound
from service.api.views import job_view


@dataclass(frozen=True)
class JobSnapshot:
    job_id: str
    tenant_id: str
    status: str
    version: int
    metric_seq: int
    body: bytes
    taken_at: float

    @property
    def etag(self) -> str:
        return f'W/"{self.job_id}-{self.version}"'


class JobSnapshots:
    def __init__(self, sessions, ttl_s: float, max_entries: int = 10_000) -> None:  # type: ignore[no-untyped-def]
        self.sessions = sessions
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.entries: dict[str, JobSnapshot] = {}
        self.loading: dict[str, asyncio.Future[JobSnapshot | None]] = {}
        self.histories: dict[str, list] = {}

    def _load(self, job_id: str) -> JobSnapshot | None:
        with self.sessions() as session:
            try:
                job = store_jobs.get_job_any_tenant(session, job_id)
            except NotFound:
                return None
            # State changes only append: read the events after the ones already held.
            history = self.histories.get(job_id, [])
            if (history[-1].seq if history else 0) < job.event_seq:
                history = history + store_jobs.job_events(session, job.id, after_seq=history[-1].seq if history else 0)
                self.histories[job_id] = history
            body = job_view(job, history).model_dump_json().encode()
        return JobSnapshot(job.id, job.tenant_id, str(job.status), job.version, job.metric_seq, body, time.monotonic())

    async def get(self, tenant_id: str, job_id: str) -> JobSnapshot:
        """The job as this tenant may see it; NotFound for an unknown id or another tenant's."""
        snapshot = self.entries.get(job_id)
        if snapshot is None or time.monotonic() - snapshot.taken_at > self._ttl(snapshot.status):
            snapshot = await self._refresh(job_id)
        if snapshot.tenant_id != tenant_id:
            raise NotFound("job", job_id)
        return snapshot

    async def _refresh(self, job_id: str) -> JobSnapshot:
        """One database read per job at a time: concurrent polls of an expired entry share it."""
        pending = self.loading.get(job_id)
        if pending is None:
            pending = asyncio.ensure_future(run_in_threadpool(self._load, job_id))
            self.loading[job_id] = pending
            pending.add_done_callback(lambda _: self.loading.pop(job_id, None))
        snapshot = await asyncio.shield(pending)
        if snapshot is None:
            raise NotFound("job", job_id)
        if len(self.entries) >= self.max_entries:
            self.entries.clear()
            self.histories.clear()
        self.entries[job_id] = snapshot
        return snapshot

    def _ttl(self, status: str) -> float:
        # A queued job's next change (a worker claiming it) is the one people wait for, and a
        # cancelling one is about to stop: read those fresh every time.
        return 0.0 if status in ("queued", "cancelling") else self.ttl_s

    def forget(self, job_id: str) -> None:
        self.entries.pop(job_id, None)
