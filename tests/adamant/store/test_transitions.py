import itertools
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from adamant.store import (
    TRANSITIONS,
    InvalidTransition,
    Job,
    JobStatus,
    StoreError,
    Tenant,
    append_logs,
    append_metrics,
    claim_job,
    database_time,
    drop_metrics_after,
    fail_before_start,
    finish_job,
    get_job_any_tenant,
    heartbeat,
    job_events,
    mark_dispatched,
    reap_expired_leases,
    record_checkpoint,
    request_cancel,
    requeue_or_fail,
    resume_job,
)
from adamant.store.db import write_transaction
from adamant.store.jobs import _transition
from adamant.store.states import check_transition

from .conftest import job_in, submit

Q, R, C = JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELLING
OK, FAIL, X = JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED
DISALLOWED = [pair for pair in itertools.product(JobStatus, JobStatus) if pair not in TRANSITIONS]


def test_the_table_holds_exactly_the_lifecycle() -> None:
    assert set(TRANSITIONS) == {
        (Q, R), (Q, X), (Q, FAIL),
        (R, OK), (R, FAIL), (R, C), (R, Q),
        (C, X), (C, OK), (C, FAIL),
        (X, Q), (FAIL, Q),
    }  # fmt: skip
    for current, to in DISALLOWED:
        with pytest.raises(InvalidTransition):
            check_transition("job_x", current, to)


def _expire_lease(session: Session, job_id: str) -> None:
    with write_transaction(session):
        session.get(Job, job_id).lease_expires_at = database_time(session) - 1


def _move(session: Session, tenant: Tenant, current: JobStatus, to: JobStatus) -> Job:
    """Make the allowed move current -> to through the public function that owns it."""
    job, lease = job_in(session, tenant, current)
    match (current, to):
        case (JobStatus.QUEUED, JobStatus.RUNNING):
            assert claim_job(session, job.id, "w", 30) is not None
        case (JobStatus.QUEUED, JobStatus.CANCELLED) | (JobStatus.RUNNING, JobStatus.CANCELLING):
            request_cancel(session, tenant.id, job.id)
        case (JobStatus.QUEUED, JobStatus.FAILED):
            fail_before_start(session, job.id, {"type": "dataset_error", "message": "dataset was deleted"})
        case (JobStatus.RUNNING, JobStatus.QUEUED):
            assert requeue_or_fail(session, lease, "worker shutting down") == JobStatus.QUEUED
        case (JobStatus.CANCELLING, JobStatus.CANCELLED):
            _expire_lease(session, job.id)
            assert (job.id, JobStatus.CANCELLED) in reap_expired_leases(session, limit=10_000)
        case (JobStatus.RUNNING | JobStatus.CANCELLING, _):
            finish_job(session, lease, to, result={"ok": to == OK})
        case (JobStatus.FAILED | JobStatus.CANCELLED, JobStatus.QUEUED):
            resume_job(session, tenant.id, job.id)
        case _:
            raise AssertionError(f"no public function moves {current} -> {to}")
    return session.get(Job, job.id, populate_existing=True)


@pytest.mark.parametrize(("current", "to"), list(TRANSITIONS), ids=lambda s: str(s))
def test_every_allowed_transition_works_and_writes_one_event(
    session: Session, tenant: Tenant, current: JobStatus, to: JobStatus
) -> None:
    before = database_time(session)
    job = _move(session, tenant, current, to)

    assert job.status == to
    last = job_events(session, job.id)[-1]
    assert (last.from_status, last.to_status) == (current, to)
    assert last.seq == job.event_seq
    assert before - 1 <= last.at <= database_time(session) + 1
    assert last.reason


@pytest.mark.parametrize(("current", "to"), DISALLOWED, ids=lambda s: str(s))
def test_every_other_transition_is_refused_and_writes_nothing(
    session: Session, tenant: Tenant, current: JobStatus, to: JobStatus
) -> None:
    job, _ = job_in(session, tenant, current)
    version, events = job.version, len(job_events(session, job.id))

    with pytest.raises(InvalidTransition) as refused, write_transaction(session):
        _transition(session, job.id, current, to, reason="test")

    assert refused.value.actual == current and refused.value.to == to
    job = session.get(Job, job.id, populate_existing=True)
    assert (job.status, job.version, len(job_events(session, job.id))) == (current, version, events)


def test_the_guard_refuses_a_job_that_is_no_longer_in_the_expected_status(session: Session, tenant: Tenant) -> None:
    job, _ = job_in(session, tenant, JobStatus.SUCCEEDED)

    with pytest.raises(InvalidTransition) as refused, write_transaction(session):
        _transition(session, job.id, JobStatus.RUNNING, JobStatus.FAILED, reason="stale read")

    assert refused.value.actual == JobStatus.SUCCEEDED
    assert refused.value.expected == (JobStatus.RUNNING,)


def test_status_timestamps_are_set_by_their_transitions(session: Session, tenant: Tenant) -> None:
    job = submit(session, tenant)
    assert job.queued_at is not None and job.started_at is None and job.finished_at is None

    lease = claim_job(session, job.id, "w", 30)
    job = session.get(Job, job.id, populate_existing=True)
    assert job.started_at is not None and job.started_at >= job.queued_at and job.finished_at is None

    job = finish_job(session, lease, JobStatus.SUCCEEDED)
    assert job.finished_at is not None and job.finished_at >= job.started_at
    assert [(e.from_status, e.to_status) for e in job_events(session, job.id)] == [(None, Q), (Q, R), (R, OK)]


def test_public_functions_refuse_jobs_in_the_wrong_status(session: Session, tenant: Tenant) -> None:
    done, _ = job_in(session, tenant, JobStatus.SUCCEEDED)
    running, lease = job_in(session, tenant, JobStatus.RUNNING)

    with pytest.raises(InvalidTransition):
        request_cancel(session, tenant.id, done.id)
    with pytest.raises(InvalidTransition):
        resume_job(session, tenant.id, done.id)
    with pytest.raises(InvalidTransition):
        resume_job(session, tenant.id, running.id)
    with pytest.raises(InvalidTransition):
        finish_job(session, lease, JobStatus.CANCELLED)  # running, never asked to cancel
    with pytest.raises(InvalidTransition):
        fail_before_start(session, running.id, {"type": "x", "message": "too late"})


def _row(session: Session, job_id: str) -> dict[str, Any]:
    job = session.get(Job, job_id, populate_existing=True)
    return {column.key: getattr(job, column.key) for column in Job.__table__.columns}


def test_version_goes_up_by_one_on_every_change_of_the_row(session: Session, tenant: Tenant) -> None:
    job = submit(session, tenant)
    assert job.version == 1
    lease = None

    def claim() -> None:
        nonlocal lease
        lease = claim_job(session, job.id, "w", 30)

    steps = [
        lambda: mark_dispatched(session, job.id),
        claim,
        lambda: heartbeat(session, lease, 30, progress={"step": 1, "total_steps": 10}, phase="training"),
        lambda: append_metrics(session, lease, [(1, 0.1, "loss", 0.9, 1.0), (1, 0.1, "val_auc", 0.6, 1.0)]),
        lambda: append_logs(session, job.id, [(1.0, "info", "epoch 1")], lease=lease),
        lambda: drop_metrics_after(session, lease, 0),
        lambda: request_cancel(session, tenant.id, job.id),
        lambda: finish_job(session, lease, JobStatus.CANCELLED),
        lambda: resume_job(session, tenant.id, job.id),
        lambda: append_logs(session, job.id, [(2.0, "info", "resumed by the user")]),
    ]
    before = _row(session, job.id)
    for step in steps:
        step()
        after = _row(session, job.id)
        changed = {k for k in after if after[k] != before[k]} - {"version", "updated_at"}
        assert changed, "every step here changes the row"
        assert after["version"] == before["version"] + 1, changed
        assert after["updated_at"] >= before["updated_at"]
        before = after

    # A write that changes nothing in the jobs row leaves the version alone.
    record_checkpoint(session, claim_job(session, job.id, "w", 30), 1, 0.1, "ckpt/step-1", "ab" * 32, 10)
    assert _row(session, job.id)["version"] == before["version"] + 1  # the claim, not the checkpoint


def test_job_events_reads_from_a_cursor(session: Session, tenant: Tenant) -> None:
    job, _ = job_in(session, tenant, JobStatus.SUCCEEDED)

    assert [e.seq for e in job_events(session, job.id)] == [1, 2, 3]
    assert [e.to_status for e in job_events(session, job.id, after_seq=2)] == [OK]
    assert [e.attempt for e in job_events(session, job.id)] == [0, 1, 1]


def test_the_database_refuses_a_status_outside_the_enum(session: Session, tenant: Tenant) -> None:
    job = submit(session, tenant)

    with pytest.raises(StoreError), write_transaction(session):
        session.execute(text("UPDATE jobs SET status = 'paused' WHERE id = :id"), {"id": job.id})

    assert get_job_any_tenant(session, job.id).status == JobStatus.QUEUED
