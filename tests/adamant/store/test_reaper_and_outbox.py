import time

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from adamant.store import (
    Job,
    JobStatus,
    Tenant,
    claim_job,
    create_tenant,
    database_time,
    get_job_any_tenant,
    heartbeat,
    job_events,
    jobs_to_dispatch,
    make_engine,
    make_session_factory,
    mark_dispatched,
    reap_expired_leases,
    request_cancel,
)
from adamant.store.db import db_now, write_transaction
from adamant.store.exceptions import LeaseLost, StoreUnavailable

from .conftest import job_in, running, submit, unique


def _set(session: Session, job_id: str, **values: object) -> None:
    """Age a row the way time would (a test's stand-in for waiting out a TTL)."""
    with write_transaction(session):
        session.execute(update(Job).where(Job.id == job_id).values(**values))


def _expire(session: Session, job_id: str) -> None:
    _set(session, job_id, lease_expires_at=db_now() - 1)


def _reaped(session: Session, *job_ids: str) -> dict[str, JobStatus]:
    """What the reaper did to these jobs (it also reaps other tests' leftovers: ignore those)."""
    return {job_id: status for job_id, status in reap_expired_leases(session, limit=10_000) if job_id in job_ids}


def test_an_expired_running_job_is_requeued_with_its_attempt_counted(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant, max_restarts=2)
    _expire(session, lease.job_id)

    assert _reaped(session, lease.job_id) == {lease.job_id: JobStatus.QUEUED}

    job = get_job_any_tenant(session, lease.job_id)
    assert (job.status, job.attempt, job.lease_owner, job.dispatched_at) == (JobStatus.QUEUED, 1, None, None)
    assert "lease expired" in (job_events(session, job.id)[-1].reason or "")
    again = claim_job(session, job.id, "worker-2", 30)
    assert again is not None and again.attempt == 2


def test_a_lease_that_is_still_live_is_left_alone(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant, ttl_s=300)

    assert _reaped(session, lease.job_id) == {}
    assert get_job_any_tenant(session, lease.job_id).status == JobStatus.RUNNING


def test_a_job_lost_more_often_than_max_restarts_fails_with_worker_lost(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant, max_restarts=1)
    _expire(session, lease.job_id)
    assert _reaped(session, lease.job_id) == {lease.job_id: JobStatus.QUEUED}
    lease = claim_job(session, lease.job_id, "worker-2", 30)
    _expire(session, lease.job_id)

    assert _reaped(session, lease.job_id) == {lease.job_id: JobStatus.FAILED}

    job = get_job_any_tenant(session, lease.job_id)
    assert job.error["type"] == "worker_lost" and job.error["failure_class"] == "infrastructure"
    assert "lost 2 times" in job.error["message"]
    assert job.finished_at is not None


def test_an_expired_cancelling_job_is_cancelled(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    request_cancel(session, tenant.id, lease.job_id)
    _expire(session, lease.job_id)

    assert _reaped(session, lease.job_id) == {lease.job_id: JobStatus.CANCELLED}
    assert get_job_any_tenant(session, lease.job_id).finished_at is not None


def test_a_running_job_with_no_lease_expiry_at_all_is_reaped(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    _set(session, lease.job_id, lease_expires_at=None)  # a NULL compares as unknown: `<` alone skips it

    assert _reaped(session, lease.job_id) == {lease.job_id: JobStatus.QUEUED}


def test_a_heartbeat_that_lands_first_keeps_the_job(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    _expire(session, lease.job_id)
    heartbeat(session, lease, 60)

    assert _reaped(session, lease.job_id) == {}


def test_reaping_twice_acts_once(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    _expire(session, lease.job_id)

    assert _reaped(session, lease.job_id) == {lease.job_id: JobStatus.QUEUED}
    assert _reaped(session, lease.job_id) == {}
    assert [e.to_status for e in job_events(session, lease.job_id)].count(JobStatus.QUEUED) == 2  # submit + reap


def test_the_outbox_returns_undispatched_and_stale_queued_jobs_only(session: Session, tenant: Tenant) -> None:
    fresh = submit(session, tenant)
    dispatched = submit(session, tenant)
    stale = submit(session, tenant)
    assert mark_dispatched(session, dispatched.id) and mark_dispatched(session, stale.id)
    _set(session, stale.id, dispatched_at=db_now() - 600)
    claimed, _ = job_in(session, tenant, JobStatus.RUNNING)
    cancelled, _ = job_in(session, tenant, JobStatus.CANCELLED)
    ours = {fresh.id, dispatched.id, stale.id, claimed.id, cancelled.id}

    due = {job.id for job in jobs_to_dispatch(session, stale_after_s=300, limit=10_000)} & ours

    assert due == {fresh.id, stale.id}
    assert not mark_dispatched(session, claimed.id)  # no longer queued


def test_a_requeued_job_goes_back_into_the_outbox(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    mark_dispatched(session, lease.job_id)  # too late: it is running, nothing changes
    _expire(session, lease.job_id)
    _reaped(session, lease.job_id)

    assert lease.job_id in {job.id for job in jobs_to_dispatch(session, stale_after_s=300, limit=10_000)}


def test_dispatch_order_is_priority_then_age(session: Session, tenant: Tenant) -> None:
    low = submit(session, tenant, priority=0)
    time.sleep(0.002)
    high = submit(session, tenant, priority=5)
    ours = [job.id for job in jobs_to_dispatch(session, stale_after_s=300, limit=10_000) if job.id in {low.id, high.id}]

    assert ours == [high.id, low.id]
    assert database_time(session) > 0


@pytest.mark.integration
def test_a_worker_paused_inside_a_transaction_still_loses_its_job(postgresql_url: str) -> None:
    """A worker frozen (SIGSTOP, a paused VM) between its heartbeat's UPDATE and its COMMIT
    holds the job's row lock. The reaper skips the row instead of waiting on it, and the server
    cuts the paused session off after the lease TTL, so the job is requeued all the same."""
    engine = make_engine(postgresql_url)
    sessions = make_session_factory(engine)
    with sessions() as session:
        lease = running(session, create_tenant(session, unique("paused")))
        _expire(session, lease.job_id)
    paused_engine = make_engine(postgresql_url, idle_in_transaction_timeout_s=1.0)
    paused = make_session_factory(paused_engine)()
    paused.execute(update(Job).where(Job.id == lease.job_id).values(heartbeat_at=db_now()))  # then freezes

    with sessions() as session:
        started = time.monotonic()
        assert _reaped(session, lease.job_id) == {}
        assert time.monotonic() - started < 1.0, "the reaper waited on the paused worker's lock"
        time.sleep(1.5)
        assert _reaped(session, lease.job_id) == {lease.job_id: JobStatus.QUEUED}

    # It wakes up: its transaction is gone (a retryable outage to it), and its retry is refused.
    with pytest.raises(StoreUnavailable, match="idle-in-transaction"):
        heartbeat(paused, lease, 60)
    with pytest.raises(LeaseLost):
        heartbeat(paused, lease, 60)
    paused.close()
    paused_engine.dispose()
    engine.dispose()
