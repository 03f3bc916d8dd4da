"""Running one job: claim it, run it in a supervised process, and settle how it ended.

`run_job` is what the Celery task calls (and what tests call directly). It claims the job in
the database — a duplicated or stale message finds nothing to claim and returns — then starts
its process in a new session (its own process group, forked from a warm server that imported
torch and the engine once: worker/job_process.py): `worker.trainer_process` for a training
job, `worker.scoring_job` (torch-free) for a scoring job, both run inside the frame of worker/leased_child.py, with its exit codes. This is the
parent side of that frame; it watches the process (the trainer, below, for either kind):

- every `poll_s` it re-reads the job: if another worker holds the lease now, the trainer is
  killed (it would be refused anyway); if a cancel has waited longer than the grace period,
  the trainer's group gets SIGTERM, then SIGKILL, and the job is recorded cancelled;
- every heartbeat_s, while the trainer lives, it extends the lease itself: a trainer that is
  still starting (importing torch can take 10 s on a loaded machine) keeps its job; the lease
  lapses only when the worker is gone, which is what the reaper is for;
- when the worker shuts down (worker/celery_app.py leaves a drain marker), the trainer gets
  SIGTERM: it finishes its step, checkpoints and requeues the job for another worker;
- past the hard time limit (the spec's time limit, or the tenant's, plus a grace period) the
  group is killed and the job fails with the reason;
- when the trainer exits, its code says what it already recorded (see worker/leased_child.py); a crash
  or a kill -9 is an infrastructure failure: the job goes back to the queue (attempt + 1,
  resuming from its latest checkpoint) until max_restarts, then fails with the reason.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from adamant.dispatch import dispatch
from adamant.exceptions import StoredSpecInvalid
from adamant.queue import make_celery
from adamant.settings import Settings, get_settings
from adamant.spec import load_stored_spec
from adamant.store import jobs as store_jobs
from adamant.store import tenants as store_tenants
from adamant.store.db import make_engine, make_session_factory
from adamant.store.exceptions import LeaseLost, NotFound, StoreUnavailable
from adamant.store.jobs import Lease
from worker import job_process
from worker.job_process import JobProcess
from worker.leased_child import EXIT_LEASE_LOST, EXIT_RECORDED

log = logging.getLogger("adamant.supervisor")
POLL_S = 1.0


@dataclass
class Outcome:
    job_id: str
    claimed: bool
    exit_code: int | None = None
    action: str = ""  # recorded | requeued | failed | cancelled | lease_lost | skipped


def worker_name(settings: Settings) -> str:
    return settings.worker_name or f"{socket.gethostname()}:{os.getpid()}"


@lru_cache(maxsize=4)
def sessions_for(database_url: str, lease_ttl_s: float | None = None):  # type: ignore[no-untyped-def]
    """One engine (and connection pool) per database per worker process, reused across tasks.

    A transaction left waiting longer than a lease is cut off by the server (make_engine)."""
    return make_session_factory(make_engine(database_url, idle_in_transaction_timeout_s=lease_ttl_s))


def run_job(job_id: str, settings: Settings | None = None) -> Outcome:
    settings = settings or get_settings()
    sessions = sessions_for(settings.database_url, settings.lease_ttl_s)
    try:
        with sessions() as session:
            lease = store_jobs.claim_job(session, job_id, worker_name(settings), settings.lease_ttl_s)
    except NotFound:
        log.warning("job %s: no such job in this database; message ignored", job_id)
        return Outcome(job_id, claimed=False, action="skipped")
    if lease is None:
        log.info("job %s: not claimable (already running, finished or cancelled); message ignored", job_id)
        return Outcome(job_id, claimed=False, action="skipped")
    log.info("job %s: claimed, attempt %s, token %s", job_id, lease.attempt, lease.token)
    return supervise(settings, sessions, lease)


PROCESS_MODULES = job_process.MODULES
PROCESS_NAMES = {"train": "training", "score": "scoring"}
LOG_NAMES = {"train": "trainer", "score": "scorer"}


def _hard_limit_s(settings: Settings, spec_limit_s: float | None, tenant_limit_s: float | None) -> float | None:
    limits = [x for x in (spec_limit_s, tenant_limit_s) if x]
    return min(limits) + settings.time_limit_grace_s if limits else None


def supervise(settings: Settings, sessions, lease: Lease) -> Outcome:  # type: ignore[no-untyped-def]
    with sessions() as session:
        job = store_jobs.get_job_any_tenant(session, lease.job_id)
        kind = job.kind if job.kind in PROCESS_MODULES else "train"
        try:
            spec_limit = load_stored_spec(job.spec).training.time_limit_s if kind == "train" else None
        except StoredSpecInvalid as exc:  # the user's to fix: fail once, never retried as a lost worker
            spec_error = exc
        else:
            spec_error = None
        tenant_limit = float(store_tenants.get_tenant(session, job.tenant_id).max_run_time_s)
    if spec_error is not None:
        return _settle(sessions, lease, "failed", spec_error.to_dict() | {"failure_class": "user"}, "stored spec invalid")
    log_path = settings.job_dir(lease.job_id) / f"{LOG_NAMES[kind]}-attempt-{lease.attempt}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    hard_limit = _hard_limit_s(settings, spec_limit, tenant_limit)
    started = time.monotonic()
    cancel_seen_at: float | None = None
    drain_marker = settings.home.absolute() / "run" / f"drain-{os.getppid()}"
    draining = False
    last_beat = time.monotonic()
    process = job_process.start(kind, lease.job_id, lease.token, log_path, fork=settings.fork_jobs)
    while True:
        try:
            code = process.wait(timeout=POLL_S)
            break
        except subprocess.TimeoutExpired:
            pass
        if not draining and drain_marker.exists():
            draining = True  # the worker is shutting down: the trainer checkpoints and requeues
            log.warning("job %s: worker shutting down; draining the trainer", lease.job_id)
            _signal_group(process, signal.SIGTERM)
        try:
            with sessions() as session:
                current = store_jobs.get_job_any_tenant(session, lease.job_id)
        except StoreUnavailable as exc:  # the database restarts, or cut this paused process off
            log.warning("job %s: cannot read the job (%s); the trainer keeps running", lease.job_id, exc)
            continue
        if current.lease_token != lease.token:
            _kill_group(process, graceful=False)
            log.warning("job %s: lease %s is no longer ours; trainer stopped", lease.job_id, lease.token)
            return Outcome(lease.job_id, True, process.returncode, "lease_lost")
        if current.status not in ("running", "cancelling"):
            continue  # the trainer recorded the outcome and is exiting
        if time.monotonic() - last_beat >= settings.heartbeat_s:
            # The lease is this worker's while its trainer lives: a trainer still importing
            # torch on a loaded machine has not heartbeated yet, and must not lose its job.
            last_beat = time.monotonic()
            try:
                with sessions() as session:
                    store_jobs.heartbeat(session, lease, settings.lease_ttl_s)
            except LeaseLost:
                _kill_group(process, graceful=False)
                return Outcome(lease.job_id, True, process.returncode, "lease_lost")
            except StoreUnavailable:
                pass  # the next beat tries again; the lease TTL is the limit
        if current.status == "cancelling":
            cancel_seen_at = cancel_seen_at or time.monotonic()
            if time.monotonic() - cancel_seen_at > settings.cancel_grace_s:
                _kill_group(process)
                return _settle(sessions, lease, "cancelled", None, "cancel: trainer did not stop within the grace period")
        if hard_limit is not None and time.monotonic() - started > hard_limit:
            _kill_group(process, graceful=False)
            return _settle(sessions, lease, "failed", {
                "type": "time_limit_exceeded",
                "message": f"the job ran past its time limit plus {settings.time_limit_grace_s:.0f}s of grace and was stopped",
                "failure_class": "user",
            }, "time limit")
    return _after_exit(settings, sessions, lease, code, log_path, kind)


def _after_exit(settings: Settings, sessions, lease: Lease, code: int, log_path: Path, kind: str = "train") -> Outcome:  # type: ignore[no-untyped-def]
    if code == EXIT_LEASE_LOST:
        log.warning("job %s: lease %s is no longer ours; the trainer stopped without writing", lease.job_id, lease.token)
        return Outcome(lease.job_id, True, code, "lease_lost")
    with sessions() as session:
        job = store_jobs.get_job_any_tenant(session, lease.job_id)
    still_ours = job.lease_token == lease.token and job.status in ("running", "cancelling")
    if code == EXIT_RECORDED and not still_ours:
        return Outcome(lease.job_id, True, code, "recorded")
    if not still_ours:
        return Outcome(lease.job_id, True, code, "lease_lost")
    how = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    reason = f"{PROCESS_NAMES[kind]} process {how}{_tail(log_path)}"
    try:
        with sessions() as session:
            status = store_jobs.requeue_or_fail(session, lease, reason, "infrastructure")
            if status == "queued":
                requeued = store_jobs.get_job_any_tenant(session, lease.job_id)
                dispatch(session, make_celery(settings), requeued.id, requeued.queue, requeued.priority)
    except LeaseLost:
        return Outcome(lease.job_id, True, code, "lease_lost")
    log.warning("job %s: %s -> %s", lease.job_id, reason, status)
    return Outcome(lease.job_id, True, code, "requeued" if status == "queued" else str(status))


def _settle(sessions, lease: Lease, status: str, error: dict | None, why: str) -> Outcome:  # type: ignore[no-untyped-def]
    try:
        with sessions() as session:
            store_jobs.finish_job(session, lease, status, error=error)
    except LeaseLost:
        return Outcome(lease.job_id, True, None, "lease_lost")
    log.warning("job %s: %s (%s)", lease.job_id, status, why)
    return Outcome(lease.job_id, True, None, status)


def _signal_group(process: JobProcess, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:  # not yet in its own group (a child forked a moment ago), or gone
        try:
            os.kill(process.pid, sig)
        except ProcessLookupError:
            pass


def _kill_group(process: JobProcess, *, graceful: bool = True, grace_s: float = 10.0) -> None:
    """Stop the trainer's process group: SIGTERM first when graceful (the trainer checkpoints),
    then SIGKILL for what is left."""
    steps = ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)) if graceful else ((signal.SIGKILL, 5.0),)
    for sig, wait_s in steps:
        _signal_group(process, sig)
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(log_path: Path, lines: int = 5) -> str:
    try:
        text = log_path.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return (": " + " | ".join(line[-300:] for line in text)) if text else ""
