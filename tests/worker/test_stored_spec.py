"""A job whose stored spec no longer validates fails once, as the user's error.

Issue 10, item 5: a spec stored with Infinity came back as null; the supervisor's validation
raised before the trainer started, and the job was requeued as `worker_lost` until its
restarts ran out, holding the tenant's concurrency slots all the while.
"""

from __future__ import annotations

import pytest

from adamant.settings import Settings
from adamant.store import jobs as store_jobs
from adamant.store import tenants as store_tenants
from adamant.store.db import make_engine, make_session_factory
from worker.supervisor import run_job

pytestmark = pytest.mark.slow

STORED_WITH_A_LOST_INFINITY = {
    "task": "binary_classification",
    "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
    "model": {"type": "logistic"},
    "schedule": {"type": "step", "step_epochs": None},  # what json made of Infinity
    "training": {"epochs": 1, "batch_size": 4096},
}


def test_a_job_whose_stored_spec_is_invalid_fails_once_with_a_readable_error(settings: Settings) -> None:
    sessions = make_session_factory(make_engine(settings.database_url))
    with sessions() as session:
        tenant = store_tenants.create_tenant(session, "t")
        # Straight into the database, as an old row would be: the API refuses this spec today.
        job, _ = store_jobs.submit_job(session, tenant.id, STORED_WITH_A_LOST_INFINITY, max_restarts=3)

    outcome = run_job(job.id, settings)

    with sessions() as session:
        row = store_jobs.get_job_any_tenant(session, job.id)
    assert outcome.action == "failed"
    assert str(row.status) == "failed" and row.attempt == 1
    assert row.error["type"] == "spec_invalid" and row.error["failure_class"] == "user"
    assert row.error["path"] == "schedule.step_epochs"
    assert "no longer validates" in row.error["message"] and "submit the job again" in row.error["message"]
    assert run_job(job.id, settings).action == "skipped", "a failed job is not claimed again"


def test_a_scoring_job_whose_stored_spec_is_invalid_fails_once_as_the_users_error(settings: Settings) -> None:
    sessions = make_session_factory(make_engine(settings.database_url))
    with sessions() as session:
        tenant = store_tenants.create_tenant(session, "t")
        stored = {"dataset": {"ref": "builtin:bank-marketing"}, "task": "binary_classification",
                  "model_job_id": "job_x", "checkpoint_step": 1, "top_k": None}  # top_k: what json made of Infinity
        job, _ = store_jobs.submit_job(session, tenant.id, stored, kind="score", max_restarts=3)

    run_job(job.id, settings)

    with sessions() as session:
        row = store_jobs.get_job_any_tenant(session, job.id)
    assert str(row.status) == "failed" and row.attempt == 1
    assert row.error["type"] == "spec_invalid" and row.error["failure_class"] == "user" and row.error["path"] == "top_k"
