import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adamant.store import (
    Checkpoint,
    Job,
    JobStatus,
    Lease,
    LeaseLost,
    LogLine,
    MetricPoint,
    NotFound,
    Tenant,
    append_logs,
    append_metrics,
    claim_job,
    database_time,
    drop_metrics_after,
    finish_job,
    forget_checkpoints,
    get_job_any_tenant,
    heartbeat,
    record_checkpoint,
    request_cancel,
    requeue_or_fail,
)

from .conftest import running, submit


def _race(session_factory: sessionmaker[Session], count: int, action: Callable[[Session], Any]) -> list[Any]:
    """Run `action` in `count` threads at once, each with its own session (its own connection)."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        with session_factory() as own:
            start.wait()
            try:
                results[index] = action(own)
            except Exception as error:  # compared by the caller
                results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_claim_is_exclusive_when_workers_race(
    session: Session, session_factory: sessionmaker[Session], tenant: Tenant
) -> None:
    for _ in range(3):
        job = submit(session, tenant)

        results = _race(session_factory, 4, lambda own, job_id=job.id: claim_job(own, job_id, f"w-{own!r}", 30))

        leases = [r for r in results if isinstance(r, Lease)]
        assert len(leases) == 1, results
        assert results.count(None) == 3
        claimed = get_job_any_tenant(session, job.id)
        assert (claimed.status, claimed.attempt, claimed.lease_token) == (JobStatus.RUNNING, 1, leases[0].token)
        assert claimed.lease_owner == leases[0].worker


def test_a_duplicated_message_finds_the_job_running_and_gets_no_lease(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)

    assert claim_job(session, lease.job_id, "worker-2", 30) is None
    assert get_job_any_tenant(session, lease.job_id).lease_owner == "worker-1"


def test_claiming_an_unknown_job_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        claim_job(session, "job_missing", "w", 30)


def test_the_lease_expires_on_the_database_clock(session: Session, tenant: Tenant) -> None:
    before = database_time(session)
    lease = running(session, tenant, ttl_s=120)
    job = get_job_any_tenant(session, lease.job_id)

    assert before + 119 <= job.lease_expires_at <= database_time(session) + 120
    assert job.heartbeat_at is not None and job.heartbeat_at >= before


def test_heartbeat_extends_the_lease_records_progress_and_reports_a_cancel(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant, ttl_s=5)
    progress = {"step": 10, "total_steps": 100, "fraction": 0.1, "eta_s": float("inf"), "samples_per_s": 512.0}

    assert heartbeat(session, lease, 600, progress=progress, phase="training", device="cpu") is False
    job = get_job_any_tenant(session, lease.job_id)
    assert job.lease_expires_at > database_time(session) + 500
    assert job.progress == {**progress, "eta_s": None}  # JSON cannot carry inf
    assert (job.phase, job.device) == ("training", "cpu")

    request_cancel(session, job.tenant_id, job.id)
    assert heartbeat(session, lease, 600) is True


def _counts(session: Session, job_id: str) -> tuple[int, ...]:
    return tuple(
        session.execute(select(func.count()).select_from(model).where(model.job_id == job_id)).scalar_one()
        for model in (MetricPoint, LogLine, Checkpoint)
    )


def test_a_stale_token_is_refused_everywhere_and_writes_nothing(session: Session, tenant: Tenant) -> None:
    stale = running(session, tenant)
    assert requeue_or_fail(session, stale, "worker restarted") == JobStatus.QUEUED
    current = claim_job(session, stale.job_id, "worker-2", 30)
    assert current is not None and current.token == stale.token + 1
    row_before = get_job_any_tenant(session, stale.job_id)
    version, counts = row_before.version, _counts(session, stale.job_id)

    writes: list[Callable[[], object]] = [
        lambda: heartbeat(session, stale, 30, progress={"step": 1}),
        lambda: append_metrics(session, stale, [(1, 0.0, "loss", 1.0, 0.0)]),
        lambda: drop_metrics_after(session, stale, 0),
        lambda: append_logs(session, stale.job_id, [(0.0, "info", "from a paused worker")], lease=stale),
        lambda: record_checkpoint(session, stale, 1, 0.0, "ckpt/step-1", "0" * 64, 1),
        lambda: forget_checkpoints(session, stale, ["ckpt/step-1"]),
        lambda: finish_job(session, stale, JobStatus.SUCCEEDED, result={"stale": True}),
        lambda: requeue_or_fail(session, stale, "stale worker"),
    ]
    for write in writes:
        with pytest.raises(LeaseLost) as lost:
            write()
        assert (lost.value.job_id, lost.value.token) == (stale.job_id, stale.token)

    job = get_job_any_tenant(session, stale.job_id)
    assert (job.version, job.status, job.lease_owner, job.result) == (version, JobStatus.RUNNING, "worker-2", None)
    assert _counts(session, stale.job_id) == counts


def test_a_lease_whose_job_was_requeued_but_not_reclaimed_is_lost(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    requeue_or_fail(session, lease, "infrastructure hiccup")

    # Same token as the row (nobody claimed since), but the job is queued: the lease is gone.
    with pytest.raises(LeaseLost):
        heartbeat(session, lease, 30)


def test_requeue_then_reclaim_bumps_attempt_and_token(session: Session, tenant: Tenant) -> None:
    first = running(session, tenant, max_restarts=3)

    assert requeue_or_fail(session, first, "node drained") == JobStatus.QUEUED
    job = get_job_any_tenant(session, first.job_id)
    assert (job.status, job.attempt, job.lease_owner, job.lease_expires_at, job.dispatched_at) == (
        JobStatus.QUEUED, 1, None, None, None
    )  # fmt: skip

    second = claim_job(session, first.job_id, "worker-2", 30)
    assert second is not None
    assert (second.attempt, second.token) == (first.attempt + 1, first.token + 1)


def test_requeue_or_fail_gives_up_when_restarts_are_spent(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant, max_restarts=1)
    assert requeue_or_fail(session, lease, "GPU fell off the bus") == JobStatus.QUEUED
    lease = claim_job(session, lease.job_id, "w", 30)  # attempt 2 > max_restarts 1

    assert requeue_or_fail(session, lease, "GPU fell off the bus") == JobStatus.FAILED
    job = get_job_any_tenant(session, lease.job_id)
    assert job.error["failure_class"] == "infrastructure"
    assert "GPU fell off the bus" in job.error["message"] and job.finished_at is not None


def test_a_user_failure_is_never_requeued(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant, max_restarts=5)

    status = requeue_or_fail(session, lease, "target column 'y' is missing", "user", error_type="dataset_error")

    assert status == JobStatus.FAILED
    error = get_job_any_tenant(session, lease.job_id).error
    assert error == {"type": "dataset_error", "message": "target column 'y' is missing", "failure_class": "user"}


def test_a_broken_attempt_of_a_cancelling_job_ends_cancelled(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    job = request_cancel(session, tenant.id, lease.job_id)
    assert job.status == JobStatus.CANCELLING and job.cancel_requested

    assert requeue_or_fail(session, lease, "killed while stopping") == JobStatus.CANCELLED


def test_finish_records_metrics_result_and_a_normalized_error(session: Session, tenant: Tenant) -> None:
    ok = running(session, tenant)
    done = finish_job(
        session, ok, JobStatus.SUCCEEDED, best_metrics={"val_auc": 0.91, "val_loss": float("nan")}, result={"steps": 10}
    )
    assert (done.best_metrics, done.result, done.lease_expires_at) == (
        {"val_auc": 0.91, "val_loss": None},
        {"steps": 10},
        None,
    )

    bad = running(session, tenant)
    failed = finish_job(session, bad, "failed", error={"type": "training_error", "message": "loss is NaN at step 7"})
    assert failed.error == {"type": "training_error", "message": "loss is NaN at step 7", "failure_class": "user"}
    assert job_reason(session, bad.job_id) == "loss is NaN at step 7"

    with pytest.raises(ValueError):
        finish_job(session, running(session, tenant), JobStatus.RUNNING)


def job_reason(session: Session, job_id: str) -> str | None:
    from adamant.store import job_events

    return job_events(session, job_id)[-1].reason


def test_worker_rows_are_read_back_fresh_from_another_session(
    session_factory: sessionmaker[Session], tenant: Tenant
) -> None:
    with session_factory() as service, session_factory() as worker:
        job = submit(service, tenant)
        lease = claim_job(worker, job.id, "w", 30)
        heartbeat(worker, lease, 30, progress={"step": 3})

        assert get_job_any_tenant(service, job.id).progress == {"step": 3}
        assert service.get(Job, job.id).status == JobStatus.RUNNING
