"""The child side of a leased job: what the training process and the scoring process share.

worker/supervisor.py claims a job under a lease, starts `python -m <module> JOB_ID LEASE_TOKEN`
in a process group of its own — worker/trainer_process.py for a training job,
worker/scoring_job.py for a scoring job — and watches it (lease, cancel, drain, time limit).
The module it starts hands its work to `run_leased`, which sets up what every kind of job
needs and turns how the work ended into the exit code the supervisor reads:

    0  EXIT_RECORDED: the job's outcome is recorded (succeeded, cancelled, failed for a user
       reason, or requeued because the worker is draining: on SIGTERM, or when the supervisor
       dies, the work stops at its next step or chunk and puts the job back in the queue)
    4  EXIT_LEASE_LOST: another worker owns the job now: nothing was written, nothing to do
    5  EXIT_INFRASTRUCTURE: the database or the machine failed: retry within max_restarts
    any other code or a signal: the process crashed; the supervisor treats it as infrastructure

The set-up: the job and its lease read back from the database, a DatabaseReporter fencing
every write with the lease token (its keepalive thread holds the lease through long phases
with no steps), SIGTERM turned into `reporter.draining`, and `uploads` for `dataset:`
references. The failures: a lost lease writes nothing; an AdamantError is the user's (the job
fails once, with the reason); the database or the machine failing (StoreUnavailable,
OperationalError, MemoryError, OSError) is infrastructure; anything else is a bug of ours,
failed with the traceback in the job's log rather than retried forever.

Neither torch nor Celery is imported here: a scoring process starts in a fraction of a trainer's time.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from adamant.artifacts import ArtifactStore, local_copy
from adamant.exceptions import AdamantError
from adamant.settings import Settings
from adamant.store import datasets as store_datasets
from adamant.store import jobs as store_jobs
from adamant.store.db import engine_for, make_session_factory
from adamant.store.exceptions import LeaseLost, StoreUnavailable
from adamant.store.jobs import Lease
from worker.db_reporter import DatabaseReporter

EXIT_RECORDED, EXIT_LEASE_LOST, EXIT_INFRASTRUCTURE = 0, 4, 5


@dataclass
class LeasedJob:
    """One attempt at a job, as its process sees it: the lease, the stored spec, the reporter."""

    settings: Settings
    sessions: Callable[[], Session]
    lease: Lease
    tenant_id: str
    stored_spec: dict[str, Any]
    reporter: DatabaseReporter

    def uploads(self, dataset_id: str) -> Path:
        """The local path of the tenant's uploaded dataset (`dataset:<id>`)."""
        with self.sessions() as session:
            relative = store_datasets.dataset_path(session, self.tenant_id, dataset_id)
        return local_copy(self.settings, relative)  # fetched from ADAMANT_ARTIFACTS_URL when this host lacks it

    def requeue(self, reason: str) -> int:
        """The worker is going away: back to the queue, for another worker (an infrastructure event)."""
        with self.sessions() as session:
            store_jobs.requeue_or_fail(session, self.lease, reason, "infrastructure")
        return EXIT_RECORDED

    def fail(self, error: dict[str, Any]) -> int:
        """Record the job failed with `error` (its log flushed first, when it can be)."""
        self.reporter.log(f"failed: {error['message']}", "error")
        try:
            flush_quietly(self.reporter)
            with self.sessions() as session:
                store_jobs.finish_job(session, self.lease, "failed", error=error)
        except LeaseLost:
            return EXIT_LEASE_LOST
        return EXIT_RECORDED


def run_leased(
    settings: Settings,
    job_id: str,
    token: int,
    work: Callable[[LeasedJob], int],
    *,
    out_dir: Callable[[Lease], Path],
    artifacts: ArtifactStore | None = None,
    on_lease: Callable[[str, Lease], None] | None = None,
) -> int:
    """Run `work` for attempt `token` of job `job_id`; returns the process's exit code.

    `out_dir(lease)` is the folder the attempt writes to (the reporter's run folder),
    `artifacts` where the reporter mirrors checkpoints, and `on_lease(tenant_id, lease)` is
    called once the job is read back (the trainer binds its structured logs there)."""
    sessions = make_session_factory(engine_for(settings))
    with sessions() as session:
        row = store_jobs.get_job_any_tenant(session, job_id)
        lease = Lease(job_id=job_id, token=token, attempt=row.attempt, worker=row.lease_owner or "")
        tenant_id, stored_spec = row.tenant_id, row.spec
    if on_lease is not None:
        on_lease(tenant_id, lease)
    reporter = DatabaseReporter(
        sessions, lease, ttl_s=settings.lease_ttl_s, heartbeat_s=settings.heartbeat_s,
        run_dir=out_dir(lease), artifact_root=settings.artifact_root, artifacts=artifacts,
    )
    job = LeasedJob(settings, sessions, lease, tenant_id, stored_spec, reporter)

    def drain(signum: int, frame: object) -> None:  # SIGTERM: stop at the next step or chunk, requeue
        reporter.draining = True

    signal.signal(signal.SIGTERM, drain)
    reporter.start_keepalive()
    try:
        reporter.heartbeat(phase="loading")
        reporter.log(f"attempt {lease.attempt} on {lease.worker or 'worker'} (pid {os.getpid()})")
        return work(job)
    except LeaseLost:
        return EXIT_LEASE_LOST
    except StoreUnavailable as exc:
        reporter.log(f"infrastructure failure: {exc}", "error")
        return EXIT_INFRASTRUCTURE
    except AdamantError as exc:  # the user's data, spec or hyperparameters: fail now, with the reason
        return job.fail(exc.to_dict() | {"failure_class": "user"})
    except (OperationalError, MemoryError, OSError) as exc:
        reporter.log(f"infrastructure failure: {type(exc).__name__}: {exc}", "error")
        flush_quietly(reporter)
        return EXIT_INFRASTRUCTURE
    except Exception as exc:  # a bug of ours: fail with what happened rather than retry it forever
        reporter.log(traceback.format_exc(), "error")
        return job.fail({
            "type": "internal_error",
            "message": f"{type(exc).__name__}: {exc} (a bug in Adamant; the log has the traceback)",
            "failure_class": "infrastructure",
        })
    finally:
        reporter.stop_keepalive()


def flush_quietly(reporter: DatabaseReporter) -> None:
    """Flush what the reporter holds; a lost lease still stops us, any other failure is ignored."""
    try:
        reporter.flush()
    except LeaseLost:
        raise
    except Exception:  # the outcome matters more than the last log lines
        pass


def exit_process(code: int) -> NoReturn:
    """Leave with `code` at once. Everything is committed and fsynced by now; skipping the
    interpreter's teardown (torch's takes a good fraction of a second) frees the worker sooner."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
