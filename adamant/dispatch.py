"""Publishing "run job X" after the job's row is committed (the outbox's send side).

Service (after submit, resume, the outbox sweep) and worker (after requeueing a job whose
trainer died) call the same function: publish, then record the time. If the process dies
between the two, the job stays "undispatched" and the sweep publishes it again; a duplicate
message is harmless because a worker must claim the job before running it.
"""

from __future__ import annotations

from celery import Celery
from sqlalchemy.orm import Session

from adamant.queue import publish_job
from adamant.store import jobs as store_jobs


def dispatch(session: Session, app: Celery, job_id: str, queue: str, priority: int) -> None:
    publish_job(app, job_id, queue, priority)
    store_jobs.mark_dispatched(session, job_id)
