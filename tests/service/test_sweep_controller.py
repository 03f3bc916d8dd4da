"""The sweep controller on a real store: a controller that dies is replaced without re-running
finished trials, and a trial recorded but never submitted is submitted exactly once.

No worker runs here: the test plays the worker's part through the store (claim, finish with
metrics), so it can stop the controller at the exact points a crash would.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adamant.queue import make_celery
from adamant.settings import Settings
from adamant.store import jobs as store_jobs
from adamant.store import migrate
from adamant.store import sweeps as store_sweeps
from adamant.store import tenants as store_tenants
from adamant.store.db import make_engine, make_session_factory
from adamant.store.models import Job
from service.sweeps import controller

BASE = {
    "task": "binary_classification",
    "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
    "model": {"type": "logistic"},
    "training": {"epochs": 2, "batch_size": 1024},
}
REQUEST = {"name": "resume", "base": BASE, "space": {"optimizer.lr": {"type": "log_uniform", "low": 1e-4, "high": 1e-1}},
           "method": "tpe", "trials": 4, "parallelism": 2}


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path, local_user=False)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    celery = make_celery(settings, name="test-controller")
    with sessions() as session:
        tenant = store_tenants.create_tenant(session, "sweeper", max_concurrent_jobs=10)
        sweep = store_sweeps.create_sweep(session, tenant.id, kind="sweep", name="resume", request=REQUEST, total_trials=4)
        ids = (tenant.id, sweep.id)
    yield settings, sessions, celery, ids
    engine.dispose()


def finish_as_worker(sessions, job_id: str, auc: float) -> None:  # type: ignore[no-untyped-def]
    with sessions() as session:
        lease = store_jobs.claim_job(session, job_id, "test-worker", ttl_s=30)
        assert lease is not None
        store_jobs.finish_job(session, lease, "succeeded", best_metrics={"val_auc": auc})


def jobs_per_trial(sessions, tenant_id: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        rows = session.execute(select(Job.idempotency_key, func.count()).where(Job.tenant_id == tenant_id).group_by(Job.idempotency_key))
        return {key: count for key, count in rows}


def test_a_new_controller_resumes_without_rerunning_finished_trials(world) -> None:  # type: ignore[no-untyped-def]
    settings, sessions, celery, (tenant_id, sweep_id) = world
    controller.advance(sessions, celery, settings, sweep_id)  # trials 0 and 1 start
    with sessions() as session:
        first = store_sweeps.trials(session, sweep_id)
    assert [t.number for t in first] == [0, 1] and all(t.job_id for t in first)
    for trial, auc in zip(first, (0.70, 0.75)):
        finish_as_worker(sessions, trial.job_id, auc)

    # The controller "dies": a fresh session factory on the same database plays the new one.
    replacement = make_session_factory(make_engine(settings.database_url))
    controller.advance(replacement, celery, settings, sweep_id)
    with replacement() as session:
        trials = store_sweeps.trials(session, sweep_id)
    assert [t.state for t in trials[:2]] == ["complete", "complete"]
    assert [t.value for t in trials[:2]] == [0.70, 0.75]
    assert [t.number for t in trials] == [0, 1, 2, 3]  # new trials, not the finished ones again
    assert len({t.job_id for t in trials}) == 4
    assert set(jobs_per_trial(sessions, tenant_id).values()) == {1}


def test_a_trial_recorded_but_not_submitted_is_submitted_once(world) -> None:  # type: ignore[no-untyped-def]
    settings, sessions, celery, (tenant_id, sweep_id) = world
    # A controller that died between writing the trial and submitting its job:
    with sessions() as session:
        store_sweeps.record_trial(session, sweep_id, 0, params={"optimizer.lr": 0.01})
    controller.advance(sessions, celery, settings, sweep_id)
    controller.advance(sessions, celery, settings, sweep_id)  # and a second step changes nothing
    with sessions() as session:
        trials = store_sweeps.trials(session, sweep_id)
        job = store_jobs.get_job_any_tenant(session, trials[0].job_id)
    assert trials[0].params == {"optimizer.lr": 0.01}
    assert job.spec["optimizer"]["lr"] == 0.01
    assert len(trials) == 2  # parallelism 2: the replayed trial and one new one
    assert jobs_per_trial(sessions, tenant_id) == {f"{sweep_id}:trial:0": 1, f"{sweep_id}:trial:1": 1}


def test_cancelling_a_sweep_cancels_queued_children(world) -> None:  # type: ignore[no-untyped-def]
    settings, sessions, celery, (tenant_id, sweep_id) = world
    controller.advance(sessions, celery, settings, sweep_id)
    with sessions() as session:
        controller.cancel(session, tenant_id, sweep_id)
        trials = store_sweeps.trials(session, sweep_id)
        statuses = {str(store_jobs.get_job_any_tenant(session, t.job_id).status) for t in trials}
        sweep = store_sweeps.get_sweep(session, tenant_id, sweep_id)
    assert sweep.status == "cancelled"
    assert {t.state for t in trials} == {"cancelled"}
    assert statuses <= {"cancelled", "cancelling"}
    controller.advance(sessions, celery, settings, sweep_id)  # a cancelled sweep starts nothing
    with sessions() as session:
        assert len(store_sweeps.trials(session, sweep_id)) == len(trials)


def test_a_cancel_waits_for_a_controller_step_in_progress_and_wins(world) -> None:  # type: ignore[no-untyped-def]
    """The controller step and the user's cancel must not interleave: a step that saw every
    child cancelled would finish the sweep as failed, and the cancel would answer 409."""
    settings, sessions, celery, (tenant_id, sweep_id) = world
    controller.advance(sessions, celery, settings, sweep_id)
    with sessions() as session:
        assert store_sweeps.take_controller(session, sweep_id, 60)  # a step in progress elsewhere
    done: list = []
    canceller = threading.Thread(target=lambda: done.append(_cancel(sessions, tenant_id, sweep_id)))
    canceller.start()
    time.sleep(0.5)
    assert not done, "the cancel went ahead while a controller step held the sweep"
    with sessions() as session:
        store_sweeps.release_controller(session, sweep_id)  # the step ends
    canceller.join(timeout=10)
    assert done == ["cancelled"]


def _cancel(sessions, tenant_id: str, sweep_id: str) -> str:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return controller.cancel(session, tenant_id, sweep_id).status
