"""A job's statuses and the one table of transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum

from adamant.store.exceptions import InvalidTransition


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"  # running, asked to stop at its next step
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


Q, R, C = JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELLING
OK, FAIL, X = JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED

# (from, to) -> who makes the move. Nothing else may change a job's status.
TRANSITIONS: dict[tuple[JobStatus, JobStatus], str] = {
    (Q, R): "a worker claims it",
    (Q, X): "the user cancels it before it runs",
    (Q, FAIL): "it cannot run (too many restarts, or a user error found before running)",
    (R, OK): "the worker finishes it",
    (R, FAIL): "the worker fails it",
    (R, C): "the user cancels it while it runs",
    (R, Q): "its lease lapsed, or an infrastructure failure with restarts left",
    (C, X): "the worker stops it, or its lease lapses",
    (C, OK): "it finished before it saw the cancel",
    (C, FAIL): "it failed before it saw the cancel",
    (X, Q): "the user resumes it",
    (FAIL, Q): "the user resumes it",
}

ACTIVE = frozenset({Q, R, C})  # counted against max_concurrent_jobs
LEASED = frozenset({R, C})  # a worker holds a lease
TERMINAL = frozenset({OK, FAIL, X})


def sources(to: JobStatus) -> tuple[JobStatus, ...]:
    """The statuses from which a job may move to `to`."""
    return tuple(a for (a, b) in TRANSITIONS if b == to)


def check_transition(job_id: str, current: JobStatus, to: JobStatus) -> None:
    """Raise InvalidTransition unless the table allows current -> to."""
    if (current, to) not in TRANSITIONS:
        raise InvalidTransition(job_id, sources(to), current, to)
