"""Jobs and their events: submit, read, cancel and resume (service); claim, heartbeat and finish
under a fenced lease (worker); the reaper of lapsed leases and the outbox of undispatched jobs.

Every status change goes through `_transition`: one guarded
``UPDATE jobs SET status=:to, … WHERE id=:id AND status=:expected [AND lease_token=:token]``
whose returned row is checked (none: InvalidTransition, or LeaseLost for a stale token), and
one job_events row, in the caller's transaction. Every other job-row write (heartbeats, the
per-job counters, the outbox stamp) is likewise one guarded UPDATE, and each bumps `version`.

Public functions take the session first; each write is one transaction that commits itself
(db.write_transaction). They return ORM rows (Job, JobEvent) that stay readable after the
commit (the store's sessions do not expire on commit), or the plain values documented.
Functions that take a job id without a tenant (job_events, get_job_any_tenant and the worker
side) trust their caller: the service checks the tenant with get_job first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from adamant.store.db import db_now, decode_cursor, encode_cursor, translated_errors, write_transaction
from adamant.store.exceptions import (
    IdempotencyConflict,
    InvalidTransition,
    LeaseLost,
    LimitExceeded,
    NotFound,
)
from adamant.store.models import JOB_KINDS, Job, JobEvent, Tenant, json_safe
from adamant.store.states import ACTIVE, LEASED, TERMINAL, JobStatus, check_transition
from adamant.store.webhooks import enqueue

MAX_PAGE = 500
FailureClass = Literal["user", "infrastructure"]


@dataclass(frozen=True)
class Lease:
    """A worker's claim on one attempt of a job; `token` fences every write it makes."""

    job_id: str
    token: int
    attempt: int
    worker: str


# ---------------------------------------------------------------------------------------------
# The one way a status changes


def _transition(
    session: Session,
    job_id: str,
    expected: JobStatus,
    to: JobStatus,
    *,
    reason: str,
    token: int | None = None,
    guards: Iterable[ColumnElement[bool]] = (),
    values: Mapping[str, Any] | None = None,
) -> Job:
    """Move a job from `expected` to `to` in one guarded UPDATE plus one event row; no commit."""
    check_transition(job_id, expected, to)
    where = [Job.id == job_id, Job.status == expected, *guards]
    if token is not None:
        where.append(Job.lease_token == token)
    statement = (
        update(Job)
        .where(*where)
        .values(status=to, event_seq=Job.event_seq + 1, **(values or {}))
        .returning(Job)
        .execution_options(populate_existing=True)
    )
    job = session.execute(statement).scalar_one_or_none()
    if job is None:
        raise _refusal(session, job_id, expected, to, token)
    session.execute(
        insert(JobEvent).values(
            job_id=job_id, seq=job.event_seq, from_status=expected, to_status=to, reason=reason, attempt=job.attempt
        )
    )
    if to in TERMINAL:  # announced in the same transaction: never for a change that rolled back
        enqueue(session, job.tenant_id, "job.finished", {"job": job_summary(job, reason)})
    return job


def job_summary(job: Job, reason: str | None = None) -> dict[str, Any]:
    """What a webhook says about a job: enough to act on without a second request."""
    return {"id": job.id, "kind": job.kind, "name": job.name, "status": str(job.status), "parent_id": job.parent_id,
            "best_metrics": job.best_metrics, "error": (job.error or {}).get("message"), "reason": reason}


def _refusal(session: Session, job_id: str, expected: JobStatus, to: JobStatus, token: int | None) -> Exception:
    """Why a guarded UPDATE matched no row."""
    row = session.execute(select(Job.status, Job.lease_token).where(Job.id == job_id)).one_or_none()
    if row is None:
        return NotFound("job", job_id)
    status, lease_token = row
    if token is not None and (lease_token != token or status not in LEASED):
        return LeaseLost(job_id, token)
    return InvalidTransition(job_id, expected, status, to)


def _held(lease: Lease) -> tuple[ColumnElement[bool], ...]:
    """The fence: this attempt's token, on a job a worker still holds."""
    return (Job.id == lease.job_id, Job.lease_token == lease.token, Job.status.in_(LEASED))


def lock_held_job(session: Session, lease: Lease) -> Job:
    """Lock and return the job while `lease` holds it (LeaseLost otherwise); inside a write."""
    statement = (
        select(Job).where(*_held(lease)).with_for_update(key_share=True).execution_options(populate_existing=True)
    )
    job = session.execute(statement).scalar_one_or_none()
    if job is None:
        raise LeaseLost(lease.job_id, lease.token)
    return job


def advance_counter(
    session: Session,
    job_id: str,
    counter: Literal["metric_seq", "log_seq"],
    count: int,
    *,
    lease: Lease | None = None,
    values: Mapping[str, Any] | None = None,
) -> int:
    """Hand out `count` seqs of a per-job counter in one guarded UPDATE; returns the new last seq.

    The row lock this UPDATE takes makes appenders commit in seq order, so a reader's cursor
    never passes a seq that a slower transaction has yet to commit.
    """
    column = getattr(Job, counter)
    where = _held(lease) if lease is not None else (Job.id == job_id,)
    statement = update(Job).where(*where).values({counter: column + count, **(values or {})}).returning(column)
    last = session.execute(statement).scalar_one_or_none()
    if last is None:
        raise LeaseLost(job_id, lease.token) if lease is not None else NotFound("job", job_id)
    return int(last)


# ---------------------------------------------------------------------------------------------
# Service side


def submit_job(
    session: Session,
    tenant_id: str,
    spec: Mapping[str, Any],
    *,
    name: str | None = None,
    queue: str = "cpu",
    priority: int = 0,
    max_restarts: int = 2,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    parent_id: str | None = None,
    kind: str = "train",
    dispatched: bool = False,
) -> tuple[Job, bool]:
    """Store a new queued job; returns (job, created).

    With dispatched=True the row is stored as already published (dispatched_at = now): the
    caller publishes right after this commits and calls mark_undispatched if that fails. It
    saves a commit on the submit path; if the process dies between commit and publish, the
    outbox sweep re-publishes the job once dispatched_at is older than its stale window.

    The same idempotency key with the same request hash returns the existing job with
    created=False; with a different hash, IdempotencyConflict. A tenant over its
    max_concurrent_jobs (queued + running + cancelling) or max_epochs gets LimitExceeded.
    Publish the Celery message only after this returns (the row is committed), then call
    mark_dispatched; jobs_to_dispatch finds the ones whose message was lost.
    """
    if max_restarts < 0:
        raise ValueError("max_restarts must be >= 0")
    if kind not in JOB_KINDS:
        raise ValueError(f"kind must be one of {', '.join(JOB_KINDS)}, not {kind!r}")
    with write_transaction(session):
        tenant = _lock_tenant(session, tenant_id)  # serializes this tenant's submits: limits and keys
        if idempotency_key is not None:
            existing = session.scalars(
                select(Job)
                .where(Job.tenant_id == tenant_id, Job.idempotency_key == idempotency_key)
                .execution_options(populate_existing=True)
            ).one_or_none()
            if existing is not None:
                if existing.request_hash != request_hash:
                    raise IdempotencyConflict(idempotency_key, existing.id)
                return existing, False
        if parent_id is not None:
            _job_of_tenant(session, tenant_id, parent_id)
        _check_epochs(tenant, spec)
        _check_concurrency(session, tenant)
        job = Job(
            tenant_id=tenant_id,
            kind=kind,
            parent_id=parent_id,
            name=name,
            spec=json_safe(spec),
            status=JobStatus.QUEUED,
            priority=priority,
            queue=queue,
            max_restarts=max_restarts,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            event_seq=1,
            dispatched_at=db_now() if dispatched else None,
        )
        session.add(job)
        session.flush()
        session.execute(
            insert(JobEvent).values(
                job_id=job.id, seq=1, from_status=None, to_status=JobStatus.QUEUED, reason="submitted", attempt=0
            )
        )
        return job, True


def get_job(session: Session, tenant_id: str, job_id: str) -> Job:
    """The tenant's job; NotFound for a missing job and for another tenant's."""
    with translated_errors():
        return _job_of_tenant(session, tenant_id, job_id)


def get_job_any_tenant(session: Session, job_id: str) -> Job:
    """A job whoever owns it (worker and reaper use); NotFound when missing."""
    with translated_errors():
        job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise NotFound("job", job_id)
    return job


def list_jobs(
    session: Session,
    tenant_id: str,
    *,
    statuses: Iterable[JobStatus | str] | None = None,
    parent_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Job], str | None]:
    """The tenant's jobs newest first, one page; the cursor for the next page, or None at the end.

    The cursor encodes the last row's (created_at, id), so pages stay stable while jobs are
    submitted: new jobs sort before the first page, never into a later one.
    """
    if limit < 1:
        raise ValueError("limit must be >= 1")
    limit = min(limit, MAX_PAGE)
    query = select(Job).where(Job.tenant_id == tenant_id)
    if statuses is not None:
        query = query.where(Job.status.in_([JobStatus(s) for s in statuses]))
    if parent_id is not None:
        query = query.where(Job.parent_id == parent_id)
    if cursor is not None:
        created_at, last_id = decode_cursor(cursor, float, str)
        query = query.where(or_(Job.created_at < created_at, and_(Job.created_at == created_at, Job.id < last_id)))
    query = query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)
    with translated_errors():
        jobs = list(session.scalars(query.execution_options(populate_existing=True)))
    if len(jobs) <= limit:
        return jobs, None
    last = jobs[limit - 1]
    return jobs[:limit], encode_cursor(last.created_at, last.id)


def request_cancel(session: Session, tenant_id: str, job_id: str) -> Job:
    """Cancel a job: a queued one at once, a running one by asking its worker (cancelling).

    Cancelling an already cancelling job changes nothing; a finished one is InvalidTransition.
    """
    with write_transaction(session):
        job = _job_of_tenant(session, tenant_id, job_id, lock=True)
        if job.status == JobStatus.QUEUED:
            return _transition(
                session,
                job_id,
                JobStatus.QUEUED,
                JobStatus.CANCELLED,
                reason="cancelled by the user before it ran",
                values={"cancel_requested": True, "finished_at": db_now()},
            )
        if job.status == JobStatus.RUNNING:
            return _transition(
                session,
                job_id,
                JobStatus.RUNNING,
                JobStatus.CANCELLING,
                reason="cancel requested by the user",
                values={"cancel_requested": True},
            )
        if job.status == JobStatus.CANCELLING:
            return job
        raise InvalidTransition(job_id, (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELLING), job.status)


def stop_within(session: Session, lease: Lease, reason: str) -> None:
    """Inside the caller's transaction: its own trainer asks a running job to stop, as a cancel
    does (running -> cancelling); the trainer sees it on its next heartbeat. No commit."""
    _transition(
        session, lease.job_id, JobStatus.RUNNING, JobStatus.CANCELLING,
        reason=reason, token=lease.token, values={"cancel_requested": True},
    )


def resume_job(session: Session, tenant_id: str, job_id: str) -> Job:
    """Queue a failed or cancelled job again (its worker resumes from the newest checkpoint).

    The error is cleared; attempts keep counting, so restarts left are shared across resumes.
    Counts against max_concurrent_jobs like a submit.
    """
    with write_transaction(session):
        tenant = _lock_tenant(session, tenant_id)
        job = _job_of_tenant(session, tenant_id, job_id, lock=True)
        if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise InvalidTransition(job_id, (JobStatus.FAILED, JobStatus.CANCELLED), job.status, JobStatus.QUEUED)
        _check_concurrency(session, tenant)
        return _transition(
            session,
            job_id,
            job.status,
            JobStatus.QUEUED,
            reason="resumed by the user",
            values={**_requeued(), "error": None, "result": None, "cancel_requested": False, "finished_at": None},
        )


def job_events(session: Session, job_id: str, after_seq: int = 0) -> list[JobEvent]:
    """The job's status changes after `after_seq`, oldest first."""
    query = select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.seq > after_seq).order_by(JobEvent.seq)
    with translated_errors():
        return list(session.scalars(query))


def mark_undispatched(session: Session, job_id: str) -> None:
    """Publishing failed: let the next outbox sweep publish the job."""
    with write_transaction(session):
        session.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED).values(dispatched_at=None))


def mark_dispatched(session: Session, job_id: str) -> bool:
    """Record that "run job X" was published; False when the job is no longer queued."""
    with write_transaction(session):
        statement = (
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
            .values(dispatched_at=db_now())
            .returning(Job.id)
        )
        return session.execute(statement).scalar_one_or_none() is not None


def fail_before_start(session: Session, job_id: str, error: Mapping[str, Any]) -> Job:
    """Fail a queued job that cannot run (its dataset vanished, its restarts are spent)."""
    with write_transaction(session):
        document = _error_document(error, default_class="user")
        return _transition(
            session,
            job_id,
            JobStatus.QUEUED,
            JobStatus.FAILED,
            reason=document["message"],
            values={"error": document, "finished_at": db_now()},
        )


# ---------------------------------------------------------------------------------------------
# Worker side: everything below is fenced by the lease token


def claim_job(session: Session, job_id: str, worker: str, ttl_s: float) -> Lease | None:
    """Take a queued job for one attempt: one conditional UPDATE; None when it is not queued.

    None means a duplicated or stale message (the job runs elsewhere, finished, or was
    cancelled): acknowledge it and do nothing. NotFound when no such job exists.
    """
    if ttl_s <= 0:
        raise ValueError("ttl_s must be > 0")
    with write_transaction(session, durable=False):
        try:
            job = _transition(
                session,
                job_id,
                JobStatus.QUEUED,
                JobStatus.RUNNING,
                reason=f"claimed by {worker}",
                values={
                    "attempt": Job.attempt + 1,
                    "lease_token": Job.lease_token + 1,
                    "lease_owner": worker,
                    "lease_expires_at": db_now() + ttl_s,
                    "heartbeat_at": db_now(),
                    "started_at": db_now(),
                    "phase": None,
                },
            )
        except InvalidTransition:
            return None
        return Lease(job_id=job.id, token=job.lease_token, attempt=job.attempt, worker=worker)


def heartbeat(
    session: Session,
    lease: Lease,
    ttl_s: float,
    *,
    progress: Mapping[str, Any] | None = None,
    phase: str | None = None,
    device: str | None = None,
) -> bool:
    """Extend the lease by ttl_s from now (database time) and record progress.

    Returns whether the job is being cancelled; LeaseLost when this lease is no longer held.
    """
    if ttl_s <= 0:
        raise ValueError("ttl_s must be > 0")
    values: dict[str, Any] = {"lease_expires_at": db_now() + ttl_s, "heartbeat_at": db_now()}
    if progress is not None:
        values["progress"] = json_safe(progress)
    if phase is not None:
        values["phase"] = phase
    if device is not None:
        values["device"] = device
    with write_transaction(session, durable=False):
        statement = update(Job).where(*_held(lease)).values(**values).returning(Job.status, Job.cancel_requested)
        row = session.execute(statement).one_or_none()
        if row is None:
            raise LeaseLost(lease.job_id, lease.token)
        return row.status == JobStatus.CANCELLING or bool(row.cancel_requested)


def finish_job(
    session: Session,
    lease: Lease,
    status: JobStatus | str,
    *,
    best_metrics: Mapping[str, Any] | None = None,
    result: Mapping[str, Any] | None = None,
    error: Mapping[str, Any] | None = None,
) -> Job:
    """End the attempt as succeeded, failed or cancelled (cancelled only once cancelling)."""
    status = JobStatus(status)
    if status not in TERMINAL:
        raise ValueError(f"finish_job ends a job; {status} is not a final status")
    values: dict[str, Any] = {"finished_at": db_now(), "lease_expires_at": None}
    if best_metrics is not None:
        values["best_metrics"] = json_safe(best_metrics)
    if result is not None:
        values["result"] = json_safe(result)
    reason = f"{status} on {lease.worker}"
    if error is not None:
        values["error"] = _error_document(error, default_class="user")
        reason = values["error"]["message"]
    with write_transaction(session):
        job = lock_held_job(session, lease)
        return _transition(session, lease.job_id, job.status, status, reason=reason, token=lease.token, values=values)


def requeue_or_fail(
    session: Session,
    lease: Lease,
    reason: str,
    failure_class: FailureClass = "infrastructure",
    *,
    error_type: str = "worker_error",
) -> JobStatus:
    """End an attempt that broke: queued again while restarts are left, failed otherwise.

    An infrastructure failure requeues while attempt <= max_restarts; a user failure never
    does. A job being cancelled becomes cancelled. Returns the new status.
    """
    if failure_class not in ("user", "infrastructure"):
        raise ValueError(f"failure_class must be 'user' or 'infrastructure', not {failure_class!r}")
    with write_transaction(session):
        job = lock_held_job(session, lease)
        if job.status == JobStatus.CANCELLING:
            _transition(
                session,
                job.id,
                JobStatus.CANCELLING,
                JobStatus.CANCELLED,
                reason=f"stopped while cancelling: {reason}",
                token=lease.token,
                values={"finished_at": db_now(), "lease_expires_at": None},
            )
            return JobStatus.CANCELLED
        if failure_class == "infrastructure" and job.attempt <= job.max_restarts:
            _transition(
                session,
                job.id,
                JobStatus.RUNNING,
                JobStatus.QUEUED,
                reason=reason,
                token=lease.token,
                values=_requeued(),
            )
            return JobStatus.QUEUED
        message = reason
        if failure_class == "infrastructure":
            message = f"{reason} (attempt {job.attempt}; no restarts left of max_restarts={job.max_restarts})"
        error = {"type": error_type, "message": message, "failure_class": failure_class}
        _transition(
            session,
            job.id,
            JobStatus.RUNNING,
            JobStatus.FAILED,
            reason=message,
            token=lease.token,
            values={"error": error, "finished_at": db_now(), "lease_expires_at": None},
        )
        return JobStatus.FAILED


# ---------------------------------------------------------------------------------------------
# Reaper and outbox


def reap_expired_leases(session: Session, *, limit: int = 100) -> list[tuple[str, JobStatus]]:
    """Requeue, fail or cancel jobs whose worker stopped heartbeating; returns (job_id, new status).

    A lease counts as expired when lease_expires_at is before the database's now, or NULL.
    A cancelling job becomes cancelled; a running one is queued again while
    attempt <= max_restarts (the lost attempt counts), otherwise failed with a worker_lost
    error. Each job is its own transaction, guarded on the token and the expiry it was found
    with, so a heartbeat that lands first wins and two reapers never act twice.
    """
    expired = and_(Job.status.in_(LEASED), or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < db_now()))
    query = (
        select(Job.id, Job.status, Job.lease_token, Job.attempt, Job.max_restarts, Job.lease_owner)
        .where(expired)
        .order_by(Job.lease_expires_at)
        .limit(limit)
    )
    with translated_errors():
        candidates = session.execute(query).all()
    reaped: list[tuple[str, JobStatus]] = []
    for job_id, status, token, attempt, max_restarts, owner in candidates:
        values: dict[str, Any]
        if status == JobStatus.CANCELLING:
            to, reason = JobStatus.CANCELLED, f"lease expired while cancelling (worker {owner})"
            values = {"finished_at": db_now(), "lease_expires_at": None}
        elif attempt <= max_restarts:
            to, reason = JobStatus.QUEUED, f"lease expired (worker {owner} lost); attempt {attempt} requeued"
            values = _requeued()
        else:
            to = JobStatus.FAILED
            reason = (
                f"the worker running this job was lost {attempt} times (last: {owner}); "
                f"max_restarts={max_restarts} allows no more"
            )
            error = {"type": "worker_lost", "message": reason, "failure_class": "infrastructure"}
            values = {"error": error, "finished_at": db_now(), "lease_expires_at": None}
        with write_transaction(session):
            if not _lock_unless_held(session, job_id):
                continue  # a writer holds the row: a live heartbeat, or a paused one the server will cut off
            try:
                _transition(session, job_id, status, to, reason=reason, token=token, guards=[expired], values=values)
            except (InvalidTransition, LeaseLost, NotFound):
                continue  # it heartbeated, finished or was reaped by someone else meanwhile
            reaped.append((job_id, to))
    return reaped


def _lock_unless_held(session: Session, job_id: str) -> bool:
    """Lock the job's row for this transaction, or say False at once when another holds it.

    PostgreSQL: FOR UPDATE SKIP LOCKED, so one row locked by a paused process never stalls the
    sweep of the others (SQLite has one writer at a time and ignores the clause).
    """
    query = select(Job.id).where(Job.id == job_id).with_for_update(skip_locked=True)
    with translated_errors():
        return session.execute(query).first() is not None


def jobs_to_dispatch(session: Session, *, stale_after_s: float, limit: int = 100) -> list[Job]:
    """Queued jobs never dispatched, or dispatched more than stale_after_s ago (a lost message).

    Publish each again and mark_dispatched it; a duplicate message is harmless (claim_job).
    """
    query = (
        select(Job)
        .where(
            Job.status == JobStatus.QUEUED,
            or_(Job.dispatched_at.is_(None), Job.dispatched_at < db_now() - stale_after_s),
        )
        .order_by(Job.priority.desc(), Job.queued_at, Job.id)
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    with translated_errors():
        return list(session.scalars(query))


# ---------------------------------------------------------------------------------------------


def _requeued() -> dict[str, Any]:
    """Columns a job gets when it goes back to the queue."""
    return {
        "lease_owner": None,
        "lease_expires_at": None,
        "queued_at": db_now(),
        "dispatched_at": None,  # the outbox publishes it again
        "phase": None,
    }


def _lock_tenant(session: Session, tenant_id: str) -> Tenant:
    tenant = session.scalars(
        select(Tenant)
        .where(Tenant.id == tenant_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if tenant is None:
        raise NotFound("tenant", tenant_id)
    return tenant


def _job_of_tenant(session: Session, tenant_id: str, job_id: str, *, lock: bool = False) -> Job:
    query = select(Job).where(Job.id == job_id, Job.tenant_id == tenant_id)
    if lock:
        query = query.with_for_update(key_share=True)
    job = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if job is None:
        raise NotFound("job", job_id)
    return job


def _check_concurrency(session: Session, tenant: Tenant) -> None:
    active = session.execute(
        select(func.count()).select_from(Job).where(Job.tenant_id == tenant.id, Job.status.in_(ACTIVE))
    ).scalar_one()
    if active + 1 > tenant.max_concurrent_jobs:
        raise LimitExceeded("max_concurrent_jobs", active + 1, tenant.max_concurrent_jobs)


def _check_epochs(tenant: Tenant, spec: Mapping[str, Any]) -> None:
    training = spec.get("training")
    epochs = training.get("epochs") if isinstance(training, Mapping) else None
    if isinstance(epochs, int) and epochs > tenant.max_epochs:
        raise LimitExceeded("max_epochs", epochs, tenant.max_epochs)


def _error_document(error: Mapping[str, Any], *, default_class: FailureClass) -> dict[str, Any]:
    """An error as stored: type, message and failure_class always present."""
    document = dict(json_safe(error))
    document.setdefault("type", "error")
    document["message"] = str(document.get("message") or document["type"])
    document.setdefault("failure_class", default_class)
    if document["failure_class"] not in ("user", "infrastructure"):
        raise ValueError(f"failure_class must be 'user' or 'infrastructure', not {document['failure_class']!r}")
    return document
