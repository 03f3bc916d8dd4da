import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from adamant.store import (
    Checkpoint,
    LeaseLost,
    NotFound,
    StoreError,
    Tenant,
    best_checkpoint,
    forget_checkpoints,
    get_checkpoint,
    latest_checkpoint,
    list_checkpoints,
    record_checkpoint,
    requeue_or_fail,
)
from adamant.store.db import write_transaction

from .conftest import running

SHA = "ab" * 32


def test_checkpoints_are_listed_by_step_with_one_best(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    first = record_checkpoint(
        session, lease, 100, 1.0, "jobs/x/checkpoints/step-100", SHA, 1000, {"val_auc": 0.7}, True
    )
    second = record_checkpoint(session, lease, 200, 2.0, "jobs/x/checkpoints/step-200", SHA, 1000, {"val_auc": 0.6})
    third = record_checkpoint(
        session, lease, 300, 3.0, "jobs/x/checkpoints/step-300", SHA, 1000, {"val_auc": 0.8}, True
    )

    assert [c.step for c in list_checkpoints(session, lease.job_id)] == [100, 200, 300]
    assert best_checkpoint(session, lease.job_id).id == third.id
    assert latest_checkpoint(session, lease.job_id).id == third.id
    assert not get_checkpoint(session, lease.job_id, first.id).is_best
    assert get_checkpoint(session, lease.job_id, second.id).metrics == {"val_auc": 0.6}
    assert first.id.startswith("ckpt_")


def test_a_rewritten_directory_replaces_its_row(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    old = record_checkpoint(session, lease, 100, 1.0, "run/checkpoints/step-100", SHA, 1000)
    new = record_checkpoint(session, lease, 100, 1.0, "run/checkpoints/step-100", "cd" * 32, 1200, {"val_auc": 0.9})

    assert [c.id for c in list_checkpoints(session, lease.job_id)] == [new.id]
    with pytest.raises(NotFound):
        get_checkpoint(session, lease.job_id, old.id)


def test_pruned_checkpoints_are_forgotten(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    for step in (1, 2, 3):
        record_checkpoint(session, lease, step, float(step), f"run/checkpoints/step-{step}", SHA, 10, is_best=step == 1)

    assert forget_checkpoints(session, lease, ["run/checkpoints/step-1", "run/checkpoints/step-2", "not/there"]) == 2

    assert [c.step for c in list_checkpoints(session, lease.job_id)] == [3]
    assert best_checkpoint(session, lease.job_id) is None
    assert forget_checkpoints(session, lease, []) == 0
    rows = session.scalars(select(Checkpoint).where(Checkpoint.job_id == lease.job_id)).all()
    assert len(rows) == 3  # kept, marked deleted


def test_a_stale_worker_records_nothing(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    requeue_or_fail(session, lease, "worker lost")

    with pytest.raises(LeaseLost):
        record_checkpoint(session, lease, 1, 0.1, "run/checkpoints/step-1", SHA, 10)
    assert list_checkpoints(session, lease.job_id) == []


def test_paths_must_stay_under_the_artifact_root(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    for path in ("/etc/passwd", "../other-tenant/ckpt", "run/../../x", "", "C:/x"):
        with pytest.raises(ValueError):
            record_checkpoint(session, lease, 1, 0.1, path, SHA, 10)


def test_another_jobs_checkpoint_is_not_found(session: Session, tenant: Tenant) -> None:
    a, b = running(session, tenant), running(session, tenant)
    checkpoint = record_checkpoint(session, a, 1, 0.1, "a/step-1", SHA, 10)

    with pytest.raises(NotFound):
        get_checkpoint(session, b.job_id, checkpoint.id)


def test_the_database_allows_one_live_best_checkpoint_per_job(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    record_checkpoint(session, lease, 1, 0.1, "run/step-1", SHA, 10, is_best=True)

    with pytest.raises(StoreError), write_transaction(session):
        session.add(
            Checkpoint(
                job_id=lease.job_id, step=2, epoch=0.2, path="run/step-2", sha256=SHA, size_bytes=1, is_best=True
            )
        )
