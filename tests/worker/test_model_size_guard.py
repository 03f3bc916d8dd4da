"""A job whose model is past ADAMANT_MAX_MODEL_PARAMETERS fails once, as the user's error naming
the fields to change, instead of dying in the worker as "a bug in Adamant" (issue 10, item 7).

The service refuses such a model at submit from the dataset's schema; a file: reference has no
schema there, so the worker's exact check on the prepared data is what stops it.
"""

from __future__ import annotations

import pytest

from adamant.settings import Settings, get_settings
from adamant.store import jobs as store_jobs
from adamant.store import tenants as store_tenants
from adamant.store.db import make_engine, make_session_factory
from worker.supervisor import run_job

pytestmark = pytest.mark.slow

SPEC = {
    "task": "binary_classification",
    "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
    "model": {"type": "mlp", "hidden": [256, 256]},
    "training": {"epochs": 1, "batch_size": 4096},
}


def test_a_model_past_the_parameter_limit_fails_once_naming_the_fields(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADAMANT_MAX_MODEL_PARAMETERS", "50000")  # the trainer subprocess reads it
    get_settings.cache_clear()
    sessions = make_session_factory(make_engine(settings.database_url))
    with sessions() as session:
        tenant = store_tenants.create_tenant(session, "t")
        job, _ = store_jobs.submit_job(session, tenant.id, SPEC, max_restarts=3)

    outcome = run_job(job.id, get_settings())

    with sessions() as session:
        row = store_jobs.get_job_any_tenant(session, job.id)
    assert outcome.action == "recorded" and str(row.status) == "failed" and row.attempt == 1
    assert row.error["type"] == "model_too_large" and row.error["failure_class"] == "user"
    assert row.error["fields"][0] == "model.hidden" and row.error["estimate"]["parameters"] > 50_000
    assert "50,000" in row.error["message"] and "bug" not in row.error["message"]
