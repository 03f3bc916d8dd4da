"""The statuses of jobs, sweeps and trials, and for each the one table of transitions allowed between them."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from adamant.store.exceptions import InvalidTransition

S = TypeVar("S", bound=StrEnum)


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


class SweepStatus(StrEnum):
    """A sweep's or a comparison's status (the parent of its trials' jobs)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


SWEEP_TRANSITIONS: dict[tuple[SweepStatus, SweepStatus], str] = {
    (SweepStatus.RUNNING, SweepStatus.SUCCEEDED): "the controller finds every trial ended and one complete",
    (SweepStatus.RUNNING, SweepStatus.FAILED): (
        "no trial completed, a trial was refused, or its stored request no longer validates"
    ),
    (SweepStatus.RUNNING, SweepStatus.CANCELLED): "the user cancels it",
}


class TrialState(StrEnum):
    """One trial of a sweep: running while its job may still run, then how it ended."""

    RUNNING = "running"
    COMPLETE = "complete"
    PRUNED = "pruned"  # its job was stopped by ASHA at a rung
    FAILED = "failed"
    CANCELLED = "cancelled"


TRIAL_TRANSITIONS: dict[tuple[TrialState, TrialState], str] = {
    (TrialState.RUNNING, TrialState.COMPLETE): "its job succeeded",
    (TrialState.RUNNING, TrialState.PRUNED): "its job stopped at an ASHA rung",
    (TrialState.RUNNING, TrialState.FAILED): "its job failed, the service refused it, or its configuration is invalid",
    (TrialState.RUNNING, TrialState.CANCELLED): "its job was cancelled, or the sweep was",
}


def sources(to: S, table: Mapping[tuple[S, S], str] = TRANSITIONS) -> tuple[S, ...]:  # type: ignore[assignment]
    """The statuses from which a row may move to `to` under `table` (the jobs' by default)."""
    return tuple(a for (a, b) in table if b == to)


def check_transition(job_id: str, current: JobStatus, to: JobStatus) -> None:
    """Raise InvalidTransition unless the table allows current -> to."""
    if (current, to) not in TRANSITIONS:
        raise InvalidTransition(job_id, sources(to), current, to)
