"""Prometheus metrics of the service: what the database knows at scrape time, plus poll latency.

Served at GET /metrics (service/api/routes/health.py) in the text exposition format.

From the database, read when Prometheus scrapes (a few aggregate queries, no rows moved):

- `adamant_jobs{status,kind}`: jobs by state (gauge);
- `adamant_queue_depth{queue}`: queued jobs per Celery queue (gauge) — the database's count, the
  truth about what waits, whatever the broker holds;
- `adamant_job_duration_seconds{status}`: finished jobs, from the start of their last attempt
  to the end (histogram);
- `adamant_job_step_seconds`: finished jobs' mean wall time per training step (the final
  attempt's elapsed time over its steps, evaluation and checkpointing included) (histogram);
- `adamant_running_samples_per_second`: the summed training throughput of running jobs, the
  samples/s each worker last reported (gauge).

These are the same on every service process and survive restarts: each scrape recomputes the
histograms' buckets over all finished jobs, so they only grow, as Prometheus expects.

In this process: `adamant_poll_latency_seconds{route}`, a histogram of the time from a
GET /v1/jobs… request's arrival to the start of its response (an event stream's first byte,
not its whole life), by route template. With several uvicorn workers (`--workers N`) each
process counts its own requests, and a scrape reaches one of them; set PROMETHEUS_MULTIPROC_DIR
to an empty folder in the environment of the uvicorn parent (prometheus_client's multiprocess
mode) and /metrics sums all workers. The process collectors (CPU, memory, GC) are left out in
that mode, as prometheus_client does.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from adamant.logging_setup import job_context
from adamant.store.models import Job
from adamant.store.states import TERMINAL, JobStatus

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
STEP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
POLL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
POLLED = re.compile(r"^/v1/jobs(/|$)")
JOB_IN_PATH = re.compile(r"^/v1/jobs/(job_[0-9a-f]+)")

POLL_LATENCY = Histogram(
    "adamant_poll_latency_seconds",
    "Time from a GET /v1/jobs... request to the start of its response, by route template.",
    ["route"],
    buckets=POLL_BUCKETS,
)


class DatabaseCollector(Collector):
    """Jobs by state, queue depth, job duration and step time, from the database at scrape time."""

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterable[Metric]:
        with self.sessions() as session:
            yield from self._jobs_and_queues(session)
            finished = and_(Job.status.in_(TERMINAL), Job.started_at.is_not(None), Job.finished_at.is_not(None))
            by_status = {}
            for status in sorted(s.value for s in TERMINAL):
                by_status[status] = (Job.finished_at - Job.started_at, and_(finished, Job.status == status))
            yield _histogram(
                session,
                "adamant_job_duration_seconds",
                "Finished jobs: seconds from the start of their last attempt to the end.",
                DURATION_BUCKETS,
                by_status,
                label="status",
            )
            elapsed = Job.progress["elapsed_s"].as_float()
            steps = Job.progress["step"].as_float()
            trained = and_(
                Job.status.in_(TERMINAL), Job.kind == "train", Job.progress.is_not(None), steps > 0, elapsed.is_not(None)
            )
            yield _histogram(
                session,
                "adamant_job_step_seconds",
                "Finished training jobs: mean wall seconds per step of the last attempt (evaluation included).",
                STEP_BUCKETS,
                {"": (elapsed / steps, trained)},
            )
            rate = session.execute(
                select(func.coalesce(func.sum(Job.progress["samples_per_s"].as_float()), 0.0)).where(
                    Job.status == JobStatus.RUNNING, Job.progress.is_not(None)
                )
            ).scalar_one()
            gauge = GaugeMetricFamily(
                "adamant_running_samples_per_second", "Summed training throughput of running jobs (samples/s)."
            )
            gauge.add_metric([], float(rate or 0.0))
            yield gauge

    def _jobs_and_queues(self, session: Session) -> Iterable[Metric]:
        jobs = GaugeMetricFamily("adamant_jobs", "Jobs by status and kind.", labels=["status", "kind"])
        counts = {(JobStatus(s).value, str(k)): n for s, k, n in session.execute(
            select(Job.status, Job.kind, func.count()).group_by(Job.status, Job.kind)
        )}
        for status in JobStatus:  # every state present, zeros included, so rate()/absent() behave
            kinds = {k for s, k in counts if s == status.value} or {"train"}
            for kind in sorted(kinds):
                jobs.add_metric([status.value, kind], counts.get((status.value, kind), 0))
        yield jobs
        queues = GaugeMetricFamily("adamant_queue_depth", "Queued jobs per queue (the database's count).", labels=["queue"])
        depth = dict(session.execute(
            select(Job.queue, func.count()).where(Job.status == JobStatus.QUEUED).group_by(Job.queue)
        ).all())
        for queue in sorted(set(depth) | {"cpu", "gpu"}):
            queues.add_metric([queue], depth.get(queue, 0))
        yield queues


def _histogram(
    session: Session,
    name: str,
    documentation: str,
    buckets: Sequence[float],
    series: dict[str, tuple[Any, Any]],
    label: str | None = None,
) -> HistogramMetricFamily:
    """A histogram computed in one aggregate query per series: count and sum, and a count per bucket."""
    family = HistogramMetricFamily(name, documentation, labels=[label] if label else None)
    for label_value, (value, where) in series.items():
        columns = [func.count(), func.coalesce(func.sum(value), 0.0)]
        columns += [func.coalesce(func.sum(case((value <= bound, 1), else_=0)), 0) for bound in buckets]
        count, total, *cumulative = session.execute(select(*columns).select_from(Job).where(where)).one()
        points = [(_bound(bound), int(n)) for bound, n in zip(buckets, cumulative)] + [("+Inf", int(count))]
        family.add_metric([label_value] if label else [], points, float(total))
    return family


def _bound(value: float) -> str:
    return repr(float(value))


def exposition(sessions: Callable[[], Session]) -> bytes:
    """The text exposition of every Adamant metric for one scrape."""
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector(sessions))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
        return generate_latest(processes) + generate_latest(database)
    return generate_latest(REGISTRY) + generate_latest(database)


class PollLatency:
    """ASGI middleware: times GET /v1/jobs… requests to their response start, by route template,
    and tags the request's log records with the job id its path names."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not POLLED.match(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        match = JOB_IN_PATH.match(scope["path"])
        with job_context(job_id=match.group(1) if match else None):
            if scope.get("method") != "GET":
                await self.app(scope, receive, send)
                return
            started = time.perf_counter()
            observed = False

            async def timed_send(message: dict[str, Any]) -> None:
                nonlocal observed
                if message["type"] == "http.response.start" and not observed:
                    observed = True
                    route = getattr(scope.get("route"), "path", None) or "unmatched"
                    POLL_LATENCY.labels(route=route).observe(time.perf_counter() - started)
                await send(message)

            await self.app(scope, receive, timed_send)


def install(app: Any) -> None:
    """Time job polls (the /metrics route itself lives with /healthz and /readyz)."""
    app.add_middleware(PollLatency)
