"""Celery tasks: thin wrappers around plain functions that tests call directly."""

from __future__ import annotations

from adamant.queue import RUN_JOB_TASK
from worker.celery_app import app
from worker.supervisor import run_job


@app.task(name=RUN_JOB_TASK, ignore_result=True, acks_late=False)
def run_job_task(job_id: str) -> None:
    """Run job `job_id` if this worker can claim it; the database says whether it should run.

    Every kind of job comes through this one task (the outbox re-publishes any queued job the
    same way): the supervisor starts the training or the scoring process by the job's kind."""
    run_job(job_id)
