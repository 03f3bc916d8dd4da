"""run_job, the plain function under the Celery task: claims, supervises, settles — no Celery."""

from __future__ import annotations

import subprocess
import sys

import pytest

from adamant.settings import Settings
from adamant.store import jobs as store_jobs
from adamant.store import tenants as store_tenants
from adamant.store.db import make_engine, make_session_factory
from worker.supervisor import run_job

pytestmark = pytest.mark.slow

SPEC = {
    "task": "binary_classification",
    "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
    "model": {"type": "logistic"},
    "training": {"epochs": 1, "batch_size": 4096},
}


def submit(settings: Settings, spec: dict) -> str:
    sessions = make_session_factory(make_engine(settings.database_url))
    with sessions() as session:
        tenant = store_tenants.create_tenant(session, "t")
        job, _ = store_jobs.submit_job(session, tenant.id, spec, max_restarts=1)
    return job.id


def job_row(settings: Settings, job_id: str):  # type: ignore[no-untyped-def]
    with make_session_factory(make_engine(settings.database_url))() as session:
        return store_jobs.get_job_any_tenant(session, job_id)


@pytest.mark.parametrize("fork", [True, False], ids=["forked from the warm server", "a fresh interpreter"])
def test_the_same_job_run_twice_trains_once(settings: Settings, fork: bool) -> None:
    settings = settings.model_copy(update={"fork_jobs": fork})
    job_id = submit(settings, SPEC)
    first = run_job(job_id, settings)
    second = run_job(job_id, settings)
    job = job_row(settings, job_id)
    assert (first.claimed, first.action) == (True, "recorded")
    assert (second.claimed, second.action) == (False, "skipped")
    assert str(job.status) == "succeeded" and job.attempt == 1


def test_an_unknown_job_id_is_ignored_not_raised(settings: Settings) -> None:
    assert run_job("job_does_not_exist", settings).action == "skipped"


def test_a_user_failure_is_recorded_at_once_without_a_retry(settings: Settings) -> None:
    job_id = submit(settings, {**SPEC, "dataset": {**SPEC["dataset"], "target": "subscribed"}})
    outcome = run_job(job_id, settings)
    job = job_row(settings, job_id)
    assert outcome.action == "recorded" and str(job.status) == "failed" and job.attempt == 1
    assert job.error["failure_class"] == "user" and "subscribed" in job.error["message"]


def test_the_worker_process_never_imports_torch() -> None:
    # CUDA must never be initialised in a process Celery forks: the task side stays torch-free.
    code = "import sys, worker.tasks, worker.supervisor; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
