"""Metric points: appended by the worker under its lease, read incrementally and downsampled.

Each job numbers its points 1, 2, 3, … (seq, handed out by jobs.metric_seq in the same
transaction as the insert), so `next_metrics(after=cursor)` returns every point exactly once
and a dashboard polling every second moves only new rows. A resumed job drops the points past
its checkpoint (drop_metrics_after); the counter keeps growing, so cursors never go back.

Values that are NaN or infinite are stored as NULL (JSON cannot carry them; SQLite turns NaN
into NULL anyway): the point is kept, its value is None.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, Table, case, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from adamant.store.db import translated_errors, write_transaction
from adamant.store.jobs import Lease, advance_counter, lock_held_job
from adamant.store.models import MetricPoint, finite_or_none

POINTS = cast(Table, MetricPoint.__table__)
MAX_NAME_LENGTH = 128
INSERT_BATCH = 5000
MAX_DOWNSAMPLED = 20_000  # per metric: a chart never needs more


class MetricLike(Protocol):
    step: int
    epoch: float
    name: str
    value: float
    time: float


# (step, epoch, name, value, time) — or any object with those attributes.
MetricTuple = tuple[int, float, str, float | None, float]


def append_metrics(session: Session, lease: Lease, points: Sequence[MetricTuple | MetricLike]) -> int:
    """Store points in order under the lease; returns the job's last metric seq.

    jobs.last_metrics takes the newest value of each val_* metric. LeaseLost (and nothing
    written) when the lease is no longer held.
    """
    with write_transaction(session, durable=False):
        job = lock_held_job(session, lease)
        if not points:
            return job.metric_seq
        last_metrics = dict(job.last_metrics or {})
        rows = []
        for seq, point in enumerate(points, start=job.metric_seq + 1):
            step, epoch, name, value, time = point if isinstance(point, tuple) else _fields(point)
            if not name or len(name) > MAX_NAME_LENGTH:
                raise ValueError(f"metric names are 1 to {MAX_NAME_LENGTH} characters: {name!r}")
            value = finite_or_none(value)
            rows.append(
                {
                    "job_id": lease.job_id,
                    "seq": seq,
                    "step": int(step),
                    "epoch": float(epoch),
                    "name": name,
                    "value": value,
                    "time": float(time),
                    "attempt": lease.attempt,
                }
            )
            if name.startswith("val_"):
                last_metrics[name] = value
        changed = {"last_metrics": last_metrics} if last_metrics != (job.last_metrics or {}) else {}
        last_seq = advance_counter(session, lease.job_id, "metric_seq", len(rows), lease=lease, values=changed)
        for start in range(0, len(rows), INSERT_BATCH):
            session.execute(insert(POINTS), rows[start : start + INSERT_BATCH])
        return last_seq


def drop_metrics_after(session: Session, lease: Lease, step: int) -> int:
    """Delete the job's points with step > `step` (a resume from that step); returns how many.

    jobs.last_metrics is recomputed from what remains. Readers holding a cursor past the
    dropped points then see the re-run steps again as new points.
    """
    table = POINTS
    with write_transaction(session):
        lock_held_job(session, lease)
        dropped = session.execute(delete(table).where(table.c.job_id == lease.job_id, table.c.step > step))
        newest = (
            select(func.max(table.c.seq))
            .where(table.c.job_id == lease.job_id, table.c.name.startswith("val_", autoescape=True))
            .group_by(table.c.name)
        )
        remaining = session.execute(
            select(table.c.name, table.c.value).where(table.c.job_id == lease.job_id, table.c.seq.in_(newest))
        ).all()
        last_metrics = {name: value for name, value in remaining} or None
        advance_counter(session, lease.job_id, "metric_seq", 0, lease=lease, values={"last_metrics": last_metrics})
        return cast(CursorResult[Any], dropped).rowcount


def next_metrics(
    session: Session, job_id: str, *, after: int = 0, names: Iterable[str] | None = None, limit: int = 5000
) -> tuple[list[MetricPoint], int]:
    """Points with seq > after, oldest first, at most `limit`; and the cursor for the next call.

    The next cursor is the last seq returned, or `after` itself when there is nothing new.
    """
    query = select(MetricPoint).where(MetricPoint.job_id == job_id, MetricPoint.seq > after)
    if names is not None:
        query = query.where(MetricPoint.name.in_(list(names)))
    query = query.order_by(MetricPoint.seq).limit(max(1, limit))
    with translated_errors():
        points = list(session.scalars(query))
    return points, (points[-1].seq if points else after)


def metric_names(session: Session, job_id: str) -> list[str]:
    query = select(MetricPoint.name).where(MetricPoint.job_id == job_id).distinct().order_by(MetricPoint.name)
    with translated_errors():
        return list(session.scalars(query))


def downsample_metrics(
    session: Session, job_id: str, *, names: Iterable[str] | None = None, max_points: int = 1000
) -> dict[str, list[MetricPoint]]:
    """At most max_points per metric, spanning its whole history, for charts; oldest step first.

    A metric with more points is cut into max_points // 4 buckets of equal step range, and
    each bucket keeps its first, last, minimum and maximum point (M4 aggregation, Jugel et
    al., VLDB 2014): the line drawn from them has the same extremes and ends as the full one,
    so the first and last steps and the global minimum and maximum are always there.

    The database does the work: one query for each metric's step range, one aggregate query
    per metric that picks the kept seqs, one that fetches those points. Only kept points
    reach Python (about 0.1-0.2 s for 100,000 points on SQLite or PostgreSQL).
    """
    if not 4 <= max_points <= MAX_DOWNSAMPLED:
        raise ValueError(f"max_points must be between 4 and {MAX_DOWNSAMPLED}")
    buckets = max_points // 4
    p = POINTS.c
    scope = [p.job_id == job_id]
    if names is not None:
        scope.append(p.name.in_(list(names)))
    series: dict[str, list[MetricPoint]] = {}
    with translated_errors():
        ranges = session.execute(
            select(p.name, func.min(p.step), func.max(p.step), func.count()).where(*scope).group_by(p.name)
        ).all()
        for name, first_step, last_step, count in sorted(ranges):
            query = select(MetricPoint).where(MetricPoint.job_id == job_id, MetricPoint.name == name)
            if count > max_points:
                kept = _m4_seqs(session, job_id, name, first_step, last_step - first_step + 1, buckets)
                query = query.where(MetricPoint.seq.in_(kept))
            series[name] = list(session.scalars(query.order_by(MetricPoint.step, MetricPoint.seq)))
    return series


def _m4_seqs(session: Session, job_id: str, name: str, first_step: int, span: int, buckets: int) -> list[int]:
    """The seqs of each bucket's first, last, minimum and maximum point (ties: the earliest)."""
    p = POINTS.c
    # Integer division on both dialects; steps arrive in order from ix_metric_points_job_id_name_step.
    bucket = ((p.step - first_step) * buckets // span).label("bucket")
    points = select(p.seq, p.step, p.value, bucket).where(p.job_id == job_id, p.name == name).subquery("points")
    c = points.c
    framed = select(
        c.seq,
        c.step,
        c.value,
        c.bucket,
        func.min(c.step).over(partition_by=c.bucket).label("first"),
        func.max(c.step).over(partition_by=c.bucket).label("last"),
        func.min(c.value).over(partition_by=c.bucket).label("low"),
        func.max(c.value).over(partition_by=c.bucket).label("high"),
    ).subquery("framed")
    f = framed.c
    roles = (f.step == f.first, f.step == f.last, f.value == f.low, f.value == f.high)
    picked = (
        select(
            func.min(case((roles[0], f.seq))),
            func.max(case((roles[1], f.seq))),
            func.min(case((roles[2], f.seq))),
            func.min(case((roles[3], f.seq))),
        )
        .where(or_(*roles))
        .group_by(f.bucket)
    )
    return sorted({seq for row in session.execute(picked) for seq in row if seq is not None})


def _fields(point: MetricLike) -> MetricTuple:
    return point.step, point.epoch, point.name, point.value, point.time
