"""Retention of finished jobs' checkpoints and the bytes a tenant keeps."""

from __future__ import annotations

from sqlalchemy.orm import Session

from adamant.store import JobStatus, Tenant, finish_job, record_checkpoint, requeue_or_fail
from adamant.store.checkpoints import (
    discard_checkpoints,
    list_checkpoints,
    reclaimable_checkpoints,
    tenant_checkpoint_bytes,
)
from adamant.store.tenants import artifact_quota, get_tenant, set_artifact_quota

from .conftest import running

SHA = "ab" * 32


def with_checkpoints(session: Session, tenant: Tenant, steps: list[int], best: int, size: int = 100):  # type: ignore[no-untyped-def]
    lease = running(session, tenant)
    for step in steps:
        record_checkpoint(
            session, lease, step, float(step), f"jobs/{lease.job_id}/run/checkpoints/step-{step}", SHA, size,
            is_best=step == best,
        )
    return lease


def test_a_succeeded_job_gives_up_everything_but_its_best(session: Session, tenant: Tenant) -> None:
    lease = with_checkpoints(session, tenant, [10, 20, 30], best=20)
    assert reclaimable_checkpoints(session, tenant.id) == []  # still running: nothing is touched
    finish_job(session, lease, JobStatus.SUCCEEDED)

    assert [c.step for c in reclaimable_checkpoints(session, tenant.id)] == [10, 30]


def test_a_failed_job_also_keeps_its_newest_so_a_resume_continues_from_it(session: Session, tenant: Tenant) -> None:
    lease = with_checkpoints(session, tenant, [10, 20, 30, 40], best=20)
    requeue_or_fail(session, lease, "bad data", "user")

    assert [c.step for c in reclaimable_checkpoints(session, tenant.id)] == [10, 30]


def test_discarding_counts_the_bytes_and_spares_best_and_running_jobs(session: Session, tenant: Tenant) -> None:
    done = with_checkpoints(session, tenant, [1, 2, 3], best=3, size=1000)
    finish_job(session, done, JobStatus.SUCCEEDED)
    live = with_checkpoints(session, tenant, [1, 2], best=1, size=10)
    assert tenant_checkpoint_bytes(session, tenant.id) == 3020

    everything = [c.id for job in (done, live) for c in list_checkpoints(session, job.job_id)]
    assert discard_checkpoints(session, everything) == 2  # the finished job's non-best ones only

    assert [c.step for c in list_checkpoints(session, done.job_id)] == [3]
    assert len(list_checkpoints(session, live.job_id)) == 2
    assert tenant_checkpoint_bytes(session, tenant.id) == 1020


def test_a_tenant_quota_overrides_the_deployment_default(session: Session, tenant: Tenant) -> None:
    assert artifact_quota(get_tenant(session, tenant.id), 5000) == 5000
    set_artifact_quota(session, tenant.id, 100)
    assert artifact_quota(get_tenant(session, tenant.id), 5000) == 100
    set_artifact_quota(session, tenant.id, None)
    assert artifact_quota(get_tenant(session, tenant.id), None) is None
