"""The trainer's reporter through a database outage: nothing lost, nothing written twice.

The outage is injected at one exact point (the heartbeat, after the points were committed) by
making the store's heartbeat raise StoreUnavailable once: the real failure it stands for is
PostgreSQL cutting off a paused session, or restarting, between two statements of a flush.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adamant.store import claim_job, create_tenant, make_engine, make_session_factory, submit_job, upgrade
from adamant.store import jobs as store_jobs
from adamant.store.exceptions import StoreUnavailable
from adamant.store.metrics import next_metrics
from worker.db_reporter import DatabaseReporter
from worker.engine.reporting import MetricPoint

SPEC = {"task": "binary_classification", "dataset": {"ref": "builtin:bank-marketing", "target": "y"},
        "model": {"type": "mlp"}, "training": {"epochs": 1}}


def test_points_written_before_a_failed_heartbeat_are_not_written_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'adamant.db'}")
    upgrade(engine)
    sessions = make_session_factory(engine)
    with sessions() as session:
        job, _ = submit_job(session, create_tenant(session, "outage").id, SPEC)
        lease = claim_job(session, job.id, "w", 60)
    reporter = DatabaseReporter(sessions, lease, ttl_s=60, heartbeat_s=5, run_dir=tmp_path / "run", artifact_root=tmp_path)
    real_heartbeat, failures = store_jobs.heartbeat, []

    def heartbeat_once_down(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not failures:
            failures.append(1)
            raise StoreUnavailable("database unavailable: terminating connection due to idle-in-transaction timeout")
        return real_heartbeat(*args, **kwargs)

    monkeypatch.setattr(store_jobs, "heartbeat", heartbeat_once_down)
    reporter.metrics([MetricPoint(1, 0.1, "loss", 0.9), MetricPoint(1, 1.0, "val_auc", 0.7)])  # flushes; heartbeat fails
    reporter.metrics([MetricPoint(2, 1.1, "loss", 0.8)])
    reporter.flush()  # the database is back

    with sessions() as session:
        points, _ = next_metrics(session, job.id, limit=100)
        beat = store_jobs.get_job_any_tenant(session, job.id).heartbeat_at
    assert [(p.step, p.name) for p in points] == [(1, "loss"), (1, "val_auc"), (2, "loss")]
    assert failures == [1] and beat is not None
    engine.dispose()
