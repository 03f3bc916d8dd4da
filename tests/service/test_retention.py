"""The artifact quota at submit: reclaim finished jobs' spare checkpoints, then refuse with 409."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from adamant.artifacts import LocalArtifacts
from adamant.exceptions import ArtifactQuotaExceeded
from adamant.settings import Settings
from adamant.store import (
    JobStatus,
    claim_job,
    create_tenant,
    finish_job,
    make_engine,
    make_session_factory,
    record_checkpoint,
    submit_job,
    upgrade,
)
from adamant.store.checkpoints import list_checkpoints, tenant_checkpoint_bytes
from adamant.store.tenants import set_artifact_quota
from service.retention import enforce_artifact_quota

SPEC = {"task": "binary_classification", "dataset": {"ref": "builtin:bank-marketing", "target": "y"},
        "model": {"type": "mlp"}, "training": {"epochs": 1}}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, artifact_quota_bytes=None)


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


def finished_job(session: Session, settings: Settings, tenant_id: str, steps: list[int], best: int, size: int) -> str:
    """A succeeded job with a checkpoint directory of `size` bytes per step, on disk and indexed."""
    job, _ = submit_job(session, tenant_id, SPEC)
    lease = claim_job(session, job.id, "w", 60)
    for step in steps:
        key = f"jobs/{job.id}/run/checkpoints/step-{step:08d}"
        (settings.artifact_root / key).mkdir(parents=True)
        (settings.artifact_root / key / "model.safetensors").write_bytes(b"\0" * size)
        record_checkpoint(session, lease, step, float(step), key, "ab" * 32, size, is_best=step == best)
    finish_job(session, lease, JobStatus.SUCCEEDED)
    return job.id


def test_a_tenant_under_its_quota_submits_freely(session: Session, settings: Settings) -> None:
    tenant = create_tenant(session, "roomy", max_artifact_bytes=10_000)
    finished_job(session, settings, tenant.id, [1, 2], best=1, size=1000)
    enforce_artifact_quota(session, settings, tenant.id)  # no error
    assert tenant_checkpoint_bytes(session, tenant.id) == 2000


def test_over_quota_the_spare_checkpoints_of_finished_jobs_go_first(session: Session, settings: Settings) -> None:
    tenant = create_tenant(session, "reclaimed", max_artifact_bytes=2500)
    job_id = finished_job(session, settings, tenant.id, [1, 2, 3], best=2, size=1000)

    enforce_artifact_quota(session, settings, tenant.id, LocalArtifacts(settings.artifact_root))

    # Oldest first until under quota: step 1 went, the best (2) stays, and so does 3.
    assert [c.step for c in list_checkpoints(session, job_id)] == [2, 3]
    run = settings.artifact_root / "jobs" / job_id / "run" / "checkpoints"
    assert sorted(p.name for p in run.iterdir()) == ["step-00000002", "step-00000003"]


def test_over_quota_with_nothing_left_to_reclaim_the_submit_is_refused_naming_the_quota(
    session: Session, settings: Settings
) -> None:
    tenant = create_tenant(session, "full")
    settings = settings.model_copy(update={"artifact_quota_bytes": 900})  # the deployment default applies
    job_id = finished_job(session, settings, tenant.id, [1, 2], best=2, size=1000)

    with pytest.raises(ArtifactQuotaExceeded) as refused:
        enforce_artifact_quota(session, settings, tenant.id)

    assert refused.value.usage == 1000 and refused.value.quota == 900
    assert "max_artifact_bytes" in str(refused.value) and "900" in str(refused.value)
    assert [c.step for c in list_checkpoints(session, job_id)] == [2]  # the best is never reclaimed

    set_artifact_quota(session, tenant.id, 5000)  # a larger quota lets the next submit through
    enforce_artifact_quota(session, settings, tenant.id)
