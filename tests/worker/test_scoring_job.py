"""A scoring job through run_job, the function under the Celery task: claimed, supervised, retried."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from adamant.scoring.job_spec import ScoringJobSpec
from adamant.settings import Settings
from adamant.store import checkpoints as store_checkpoints
from adamant.store import jobs as store_jobs
from adamant.store import tenants as store_tenants
from adamant.store.db import make_engine, make_session_factory
from worker import supervisor
from worker.supervisor import run_job

pytestmark = pytest.mark.slow

TRAIN_SPEC = {
    "task": "binary_classification",
    "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
    "model": {"type": "logistic"},
    "training": {"epochs": 1, "batch_size": 4096},
}


def test_a_crashed_scoring_process_is_retried_and_the_retry_scores_every_row(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = make_session_factory(make_engine(settings.database_url))
    with sessions() as session:
        tenant = store_tenants.create_tenant(session, "t")
        model_job, _ = store_jobs.submit_job(session, tenant.id, TRAIN_SPEC)
    assert run_job(model_job.id, settings).action == "recorded"
    assert (settings.job_dir(model_job.id) / "run" / "reference-profile.json").is_file()
    with sessions() as session:
        checkpoint = store_checkpoints.best_checkpoint(session, model_job.id)
        spec = ScoringJobSpec(
            dataset={"ref": "builtin:bank-marketing"}, checkpoint=checkpoint.id, checkpoint_step=checkpoint.step,
            task="binary_classification", model_job_id=model_job.id,
        )
        scoring, _ = store_jobs.submit_job(session, tenant.id, spec.model_dump(mode="json"), kind="score",
                                           parent_id=model_job.id, max_restarts=1)

    # The first attempt's process dies at once (as if killed): the job goes back to the queue.
    monkeypatch.setitem(supervisor.PROCESS_MODULES, "score", "worker.no_such_module")
    first = run_job(scoring.id, settings)
    assert (first.claimed, first.action) == (True, "requeued")
    with sessions() as session:
        job = store_jobs.get_job_any_tenant(session, scoring.id)
    assert str(job.status) == "queued" and job.attempt == 1

    monkeypatch.setitem(supervisor.PROCESS_MODULES, "score", "worker.scoring_job")
    second = run_job(scoring.id, settings)
    assert (second.claimed, second.action) == (True, "recorded")
    with sessions() as session:
        job = store_jobs.get_job_any_tenant(session, scoring.id)
        reasons = [event.reason for event in store_jobs.job_events(session, scoring.id)]
    assert str(job.status) == "succeeded" and job.attempt == 2, job.error
    assert any("scoring process exit code 1" in (reason or "") for reason in reasons)
    assert job.result["files"]["output"] == f"jobs/{scoring.id}/attempt-2/predictions.csv"
    scores = pd.read_csv(settings.artifact_root / job.result["files"]["output"])
    assert scores["row"].tolist() == list(range(1, 41189))
    assert job.result["drift"]["verdict"] == "stable"
    assert job.best_metrics["auc"] > 0.6


def test_the_scoring_process_never_imports_torch() -> None:
    # Scoring needs no GPU and no torch: its process starts in a fraction of a trainer's time.
    code = "import sys, worker.scoring_job; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
