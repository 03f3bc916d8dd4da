"""The worker mirrors its checkpoints to the artifact store (ADAMANT_ARTIFACTS_URL) as it records them."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from adamant.artifacts import FsspecArtifacts
from adamant.store import claim_job, create_tenant, make_engine, make_session_factory, submit_job, upgrade
from adamant.store.checkpoints import list_checkpoints
from worker.db_reporter import DatabaseReporter
from worker.engine.reporting import CheckpointInfo

SPEC = {"task": "binary_classification", "dataset": {"ref": "builtin:bank-marketing", "target": "y"},
        "model": {"type": "mlp"}, "training": {"epochs": 1}}


def test_checkpoints_are_uploaded_before_they_are_recorded_and_pruned_ones_deleted(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'adamant.db'}")
    upgrade(engine)
    sessions = make_session_factory(engine)
    with sessions() as session:
        tenant = create_tenant(session, "mirror")
        job, _ = submit_job(session, tenant.id, SPEC)
        lease = claim_job(session, job.id, "w", 60)
    root = tmp_path / "artifacts"
    run_dir = root / "jobs" / job.id / "run"
    store = FsspecArtifacts(f"memory://adamant-mirror-{uuid.uuid4().hex}")
    reporter = DatabaseReporter(sessions, lease, ttl_s=60, heartbeat_s=5, run_dir=run_dir, artifact_root=root, artifacts=store)

    def checkpoint(step: int) -> Path:
        directory = run_dir / "checkpoints" / f"step-{step:08d}"
        directory.mkdir(parents=True)
        (directory / "model.safetensors").write_bytes(b"\0" * step)
        (directory / "manifest.json").write_text("{}")
        reporter.checkpoint(CheckpointInfo(step, 1.0, directory, {}, "ab" * 32, step + 2, is_best=False))
        return directory

    first = checkpoint(10)
    key = f"jobs/{job.id}/run/checkpoints/step-00000010"
    assert store.list(key) == [f"{key}/manifest.json", f"{key}/model.safetensors"]

    shutil.rmtree(first)  # the engine pruned it
    checkpoint(20)
    assert store.list(key) == []
    assert store.size(f"jobs/{job.id}/run/checkpoints/step-00000020") == 22
    with sessions() as session:
        assert [c.step for c in list_checkpoints(session, job.id)] == [20]
    engine.dispose()
