"""A job's log lines, numbered per job like metric points and read incrementally by cursor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from adamant.store.db import translated_errors, write_transaction
from adamant.store.jobs import Lease, advance_counter, get_job_any_tenant, lock_held_job
from adamant.store.models import LogLine

LINES = cast(Table, LogLine.__table__)
MAX_MESSAGE_BYTES = 4096
TRUNCATED = " …[truncated]"

# (time, level, message)
LogTuple = tuple[float, str, str]


def append_logs(session: Session, job_id: str, lines: Sequence[LogTuple], lease: Lease | None = None) -> int:
    """Store lines in order; returns the job's last log seq.

    A worker passes its lease (LeaseLost when no longer held); the service logs without one.
    Messages over 4 kB are cut (on a character boundary) and marked.
    """
    if lease is not None and lease.job_id != job_id:
        raise ValueError(f"lease is for job {lease.job_id}, not {job_id}")
    with write_transaction(session, durable=False):
        if not lines:
            return _current_seq(session, job_id, lease)
        last_seq = advance_counter(session, job_id, "log_seq", len(lines), lease=lease)
        rows = [
            {"job_id": job_id, "seq": seq, "time": float(time), "level": level.lower()[:16], "message": clean(message)}
            for seq, (time, level, message) in enumerate(lines, start=last_seq - len(lines) + 1)
        ]
        if rows:
            session.execute(insert(LINES), rows)
        return last_seq


def next_logs(session: Session, job_id: str, *, after: int = 0, limit: int = 1000) -> tuple[list[LogLine], int]:
    """Lines with seq > after, oldest first; and the cursor for the next call (`after` when none)."""
    query = (
        select(LogLine).where(LogLine.job_id == job_id, LogLine.seq > after).order_by(LogLine.seq).limit(max(1, limit))
    )
    with translated_errors():
        lines = list(session.scalars(query))
    return lines, (lines[-1].seq if lines else after)


def _current_seq(session: Session, job_id: str, lease: Lease | None) -> int:
    if lease is not None:
        return lock_held_job(session, lease).log_seq
    return get_job_any_tenant(session, job_id).log_seq


def clean(message: str) -> str:
    """A message as stored: no NUL characters (PostgreSQL text refuses them), at most 4 kB."""
    message = message.replace("\x00", "\\0")
    encoded = message.encode("utf-8", "replace")
    if len(encoded) <= MAX_MESSAGE_BYTES:
        return message
    keep = MAX_MESSAGE_BYTES - len(TRUNCATED.encode())
    return encoded[:keep].decode("utf-8", "ignore") + TRUNCATED
