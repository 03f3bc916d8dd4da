"""The model registry on SQLite and PostgreSQL: versions from succeeded jobs, aliases moved with an
audit trail and a compare-and-set, a version in use kept, tenants apart."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from adamant.store import JobStatus, NotFound, Tenant, finish_job, record_checkpoint, registry
from adamant.store.checkpoints import reclaimable_checkpoints
from adamant.store.exceptions import AlreadyExists, RegistryConflict
from adamant.store.models import Job

from .conftest import job_in, running

SHA = "cd" * 32


def trained(session: Session, tenant: Tenant, auc: float = 0.8) -> Job:
    """A succeeded training job with a best checkpoint at step 20 and an older one at step 10."""
    lease = running(session, tenant)
    record_checkpoint(session, lease, 10, 1.0, f"jobs/{lease.job_id}/checkpoints/step-10", SHA, 100, {"val_auc": auc - 0.1})
    record_checkpoint(session, lease, 20, 2.0, f"jobs/{lease.job_id}/checkpoints/step-20", SHA, 100, {"val_auc": auc}, True)
    return finish_job(session, lease, JobStatus.SUCCEEDED, best_metrics={"val_auc": auc})


def test_versions_come_from_succeeded_jobs_with_their_checkpoint_spec_and_metrics(session: Session, tenant: Tenant) -> None:
    registry.create_model(session, tenant.id, "churn", "binary_classification")
    first = registry.register_version(session, tenant.id, "churn", trained(session, tenant, 0.8).id)
    second = registry.register_version(session, tenant.id, "churn", trained(session, tenant, 0.85).id)

    assert (first.version, second.version) == (1, 2)
    assert first.checkpoint_step == 20 and first.metrics == {"val_auc": 0.8} and first.manifest_sha256 == SHA
    assert first.spec["task"] == "binary_classification" and first.dataset_ref == "builtin:bank-marketing"
    with pytest.raises(AlreadyExists):
        registry.create_model(session, tenant.id, "churn", "regression")

    failed, _ = job_in(session, tenant, JobStatus.FAILED)
    with pytest.raises(RegistryConflict, match="only a succeeded training job"):
        registry.register_version(session, tenant.id, "churn", failed.id)
    registry.create_model(session, tenant.id, "spend", "regression")
    with pytest.raises(RegistryConflict, match="model 'spend' is regression"):
        registry.register_version(session, tenant.id, "spend", first.job_id)


def test_an_alias_moves_at_once_with_who_and_from_which_version_and_rolls_back(session: Session, tenant: Tenant) -> None:
    registry.create_model(session, tenant.id, "churn", "binary_classification")
    for auc in (0.8, 0.85):
        registry.register_version(session, tenant.id, "churn", trained(session, tenant, auc).id)

    registry.set_alias(session, tenant.id, "churn", "production", 1, actor="key:aaaa1111")
    assert registry.resolve(session, tenant.id, "churn").version.version == 1  # a bare name: production
    registry.set_alias(session, tenant.id, "churn", "production", 2, actor="key:bbbb2222", reason="better AUC")
    served = registry.resolve(session, tenant.id, "churn@production")
    assert served.version.version == 2 and served.alias == "production" and served.checkpoint.step == 20
    assert registry.resolve(session, tenant.id, "churn@1").version.version == 1

    registry.set_alias(session, tenant.id, "churn", "production", 1, actor="key:aaaa1111", reason="rollback")
    registry.set_alias(session, tenant.id, "churn", "production", 1, actor="key:aaaa1111")  # already there: not a move
    model = registry.get_model(session, tenant.id, "churn")
    history = [(e.from_version, e.to_version, e.actor, e.reason) for e in reversed(registry.alias_events(session, model))]
    assert history == [(None, 1, "key:aaaa1111", None), (1, 2, "key:bbbb2222", "better AUC"), (2, 1, "key:aaaa1111", "rollback")]


def test_a_guarded_move_refuses_an_alias_moved_since_it_was_read(session: Session, tenant: Tenant) -> None:
    registry.create_model(session, tenant.id, "churn", "binary_classification")
    for auc in (0.8, 0.85, 0.9):
        registry.register_version(session, tenant.id, "churn", trained(session, tenant, auc).id)
    registry.set_alias(session, tenant.id, "churn", "staging", 1, actor="a", check_expected=True, expected=None)
    with pytest.raises(RegistryConflict, match="points at version 1, not None"):
        registry.set_alias(session, tenant.id, "churn", "staging", 2, actor="b", check_expected=True, expected=None)
    registry.set_alias(session, tenant.id, "churn", "staging", 2, actor="a", check_expected=True, expected=1)
    with pytest.raises(RegistryConflict, match="points at version 2, not 1"):  # the second of two promotions
        registry.set_alias(session, tenant.id, "churn", "staging", 3, actor="b", check_expected=True, expected=1)
    assert registry.aliases(session, registry.get_model(session, tenant.id, "churn")) == {"staging": 2}
    with pytest.raises(NotFound):
        registry.set_alias(session, tenant.id, "churn", "staging", 9, actor="a")


def test_a_version_in_use_is_not_deleted_and_its_checkpoint_not_reclaimed(session: Session, tenant: Tenant) -> None:
    registry.create_model(session, tenant.id, "churn", "binary_classification")
    job = trained(session, tenant)
    older = [c for c in reclaimable_checkpoints(session, tenant.id) if c.job_id == job.id]
    assert [c.step for c in older] == [10]  # retention would take the older checkpoint...
    registry.register_version(session, tenant.id, "churn", job.id, checkpoint_id=older[0].id)
    assert [c for c in reclaimable_checkpoints(session, tenant.id) if c.job_id == job.id] == []  # ...until registered

    registry.set_alias(session, tenant.id, "churn", "production", 1, actor="a")
    with pytest.raises(RegistryConflict, match="in use by alias 'production'"):
        registry.delete_version(session, tenant.id, "churn", 1)
    registry.set_alias(session, tenant.id, "churn", "production", None, actor="a")
    registry.delete_version(session, tenant.id, "churn", 1)
    with pytest.raises(NotFound):
        registry.resolve(session, tenant.id, "churn@1")
    again = registry.register_version(session, tenant.id, "churn", job.id)
    assert again.version == 2  # a number is never reused


def test_another_tenants_model_is_not_found(session: Session, tenant: Tenant, make_tenant) -> None:  # type: ignore[no-untyped-def]
    registry.create_model(session, tenant.id, "churn", "binary_classification")
    registry.register_version(session, tenant.id, "churn", trained(session, tenant).id)
    registry.set_alias(session, tenant.id, "churn", "production", 1, actor="a")
    other = make_tenant()
    for call in (lambda: registry.get_model(session, other.id, "churn"),
                 lambda: registry.resolve(session, other.id, "churn@production"),
                 lambda: registry.set_alias(session, other.id, "churn", "production", 1, actor="b")):
        with pytest.raises(NotFound):
            call()
    job = trained(session, tenant)
    registry.create_model(session, other.id, "churn", "binary_classification")  # the same name, its own
    with pytest.raises(NotFound):
        registry.register_version(session, other.id, "churn", job.id)  # not its job
