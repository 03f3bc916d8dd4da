"""The training process: `python -m worker.trainer_process JOB_ID LEASE_TOKEN`.

Started by the supervisor in its own process group, with a fresh interpreter (CUDA is only
ever initialised here, never in a forked Celery child). It trains the job with the engine,
reports through the fenced DatabaseReporter, and records how the job ended. Its exit code
tells the supervisor what is left to do:

    0  the job's outcome is recorded (succeeded, cancelled, failed for a user reason, or requeued
       because the worker is draining: on SIGTERM, or when the supervisor dies, the trainer
       stops at its next step, writes a checkpoint and puts the job back in the queue)
    4  the lease was lost (another worker owns the job now): nothing was written, nothing to do
    5  an infrastructure failure (database unreachable, out of memory): retry within max_restarts
    any other code or a signal: the process crashed; the supervisor treats it as infrastructure
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from adamant.artifacts import artifact_mirror, local_copy, publish
from adamant.exceptions import AdamantError, CheckpointError
from adamant.logging_setup import bind_job, configure_logging
from adamant.monitoring.reference import REFERENCE_FILE
from adamant.settings import Settings, get_settings
from adamant.spec import JobSpec, load_stored_spec
from adamant.store import checkpoints as store_checkpoints
from adamant.store import datasets as store_datasets
from adamant.store import jobs as store_jobs
from adamant.store.db import engine_for, make_session_factory
from adamant.store.exceptions import LeaseLost, NotFound
from adamant.store.jobs import Lease

EXIT_RECORDED, EXIT_LEASE_LOST, EXIT_INFRASTRUCTURE = 0, 4, 5
log = logging.getLogger("adamant.trainer")


def run_dir_for(settings: Settings, job_id: str) -> Path:
    return settings.job_dir(job_id) / "run"


def train_leased_job(settings: Settings, job_id: str, token: int) -> int:
    import torch

    from worker.db_reporter import DatabaseReporter
    from worker.engine.reporting import FanOutReporter
    from worker.engine.run import run_training
    from worker.engine.tensorboard import TensorBoardReporter

    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    sessions = make_session_factory(engine_for(settings))
    with sessions() as session:
        job = store_jobs.get_job_any_tenant(session, job_id)
        lease = Lease(job_id=job_id, token=token, attempt=job.attempt, worker=job.lease_owner or "")
        tenant_id, stored_spec = job.tenant_id, job.spec
    bind_job(job_id=job_id, tenant_id=tenant_id, attempt=lease.attempt)  # operations: structured logs
    run_dir = run_dir_for(settings, job_id)
    reporter = DatabaseReporter(
        sessions, lease, ttl_s=settings.lease_ttl_s, heartbeat_s=settings.heartbeat_s,
        run_dir=run_dir, artifact_root=settings.artifact_root,
        artifacts=artifact_mirror(settings),  # operations: upload checkpoints to ADAMANT_ARTIFACTS_URL
    )
    tensorboard = TensorBoardReporter(run_dir / "tensorboard")

    def uploads(dataset_id: str) -> Path:
        with sessions() as session:
            relative = store_datasets.dataset_path(session, tenant_id, dataset_id)
        return local_copy(settings, relative)  # fetched from ADAMANT_ARTIFACTS_URL when this host lacks it

    def drain(signum: int, frame: object) -> None:  # SIGTERM: finish the step, checkpoint, requeue
        reporter.draining = True

    signal.signal(signal.SIGTERM, drain)
    reporter.start_keepalive()
    try:
        reporter.heartbeat(phase="loading")
        reporter.log(f"attempt {lease.attempt} on {lease.worker or 'worker'} (pid {os.getpid()})")
        spec = load_stored_spec(stored_spec)  # StoredSpecInvalid is a user error: failed once, below
        init_from = _init_checkpoint(sessions, settings, tenant_id, spec)
        _fetch_latest_checkpoint(sessions, settings, job_id)
        result = run_training(
            spec, run_dir, FanOutReporter(reporter, tensorboard), file_roots=settings.file_roots,
            uploads=uploads, init_from=init_from, resume=True,
            max_parameters=settings.max_model_parameters, max_memory_bytes=settings.max_training_memory_bytes,
        )
        if result.stop_reason == "cancelled" and reporter.draining and not reporter.cancel_requested:
            # Stopped because the worker is going away, with a checkpoint just written:
            # back to the queue; another worker resumes from it. Never recorded as a success.
            reporter.flush(phase="draining")
            with sessions() as session:
                store_jobs.requeue_or_fail(session, lease, "the worker shut down; resuming from the latest checkpoint", "infrastructure")
            return EXIT_RECORDED
        status = "cancelled" if result.stop_reason == "cancelled" else "succeeded"
        _mirror_reference(settings, run_dir)
        if status == "succeeded":
            reporter.finished(result.step, result.epoch)
        else:
            reporter.flush(phase="cancelled")
        with sessions() as session:
            store_jobs.finish_job(
                session, lease, status,
                best_metrics=_json_floats(result.best_metrics),
                result=_json_floats({
                    "stop_reason": result.stop_reason,
                    "step": result.step,
                    "epoch": result.epoch,
                    "last_metrics": result.last_metrics,
                    "resumed_from_step": result.resumed_from_step,
                    "summary": result.summary,
                }),
            )
        return EXIT_RECORDED
    except LeaseLost:
        return EXIT_LEASE_LOST
    except AdamantError as exc:  # the user's data, spec or hyperparameters: fail now, with the reason
        return _fail(sessions, reporter, lease, exc.to_dict() | {"failure_class": "user"})
    except (OperationalError, MemoryError, OSError) as exc:
        reporter.log(f"infrastructure failure: {type(exc).__name__}: {exc}", "error")
        _safe_flush(reporter)
        return EXIT_INFRASTRUCTURE
    except Exception as exc:  # a bug of ours: fail with what happened rather than retry it forever
        reporter.log(traceback.format_exc(), "error")
        return _fail(sessions, reporter, lease, {
            "type": "internal_error",
            "message": f"{type(exc).__name__}: {exc} (a bug in Adamant; the log has the traceback)",
            "failure_class": "infrastructure",
        })
    finally:
        tensorboard.close()
        reporter.stop_keepalive()


def _mirror_reference(settings: Settings, run_dir: Path) -> None:
    """The training data's reference profile goes to ADAMANT_ARTIFACTS_URL with the checkpoints:
    batch scoring on another host measures drift against it."""
    profile = run_dir / REFERENCE_FILE
    if not profile.exists():
        return
    try:
        publish(settings, profile)
    except Exception as exc:  # the store's trouble, not the job's: scoring elsewhere skips drift
        log.warning("could not upload the reference profile: %s", exc)


def _fetch_latest_checkpoint(sessions, settings: Settings, job_id: str) -> None:  # type: ignore[no-untyped-def]
    """A job resumed on another host than the one that checkpointed it finds its latest
    checkpoint in ADAMANT_ARTIFACTS_URL: bring it into the run folder, where resume looks."""
    if not settings.artifacts_url:
        return
    with sessions() as session:
        latest = store_checkpoints.latest_checkpoint(session, job_id)
    if latest is not None:
        local_copy(settings, latest.path)


def _init_checkpoint(sessions, settings: Settings, tenant_id: str, spec: JobSpec) -> Path | None:  # type: ignore[no-untyped-def]
    """init_from names a job of the same tenant; its best checkpoint warm-starts this one."""
    if not spec.init_from:
        return None
    with sessions() as session:
        try:
            store_jobs.get_job(session, tenant_id, spec.init_from)
        except NotFound as exc:
            raise CheckpointError(f"init_from: no job {spec.init_from!r}") from exc
        best = store_checkpoints.best_checkpoint(session, spec.init_from)
    if best is None:
        raise CheckpointError(f"init_from: job {spec.init_from!r} has no checkpoint yet")
    return local_copy(settings, best.path)  # from ADAMANT_ARTIFACTS_URL when another host wrote it


def _fail(sessions, reporter, lease: Lease, error: dict[str, Any]) -> int:  # type: ignore[no-untyped-def]
    reporter.log(f"failed: {error['message']}", "error")
    try:
        _safe_flush(reporter)
        with sessions() as session:
            store_jobs.finish_job(session, lease, "failed", error=error)
    except LeaseLost:
        return EXIT_LEASE_LOST
    return EXIT_RECORDED


def _safe_flush(reporter) -> None:  # type: ignore[no-untyped-def]
    try:
        reporter.flush()
    except LeaseLost:
        raise
    except Exception:  # the outcome matters more than the last log lines
        pass


def _json_floats(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_floats(v) for v in value]
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    configure_logging(get_settings(), "trainer")  # operations: ADAMANT_LOG_FORMAT
    bind_job(job_id=args[0])
    return train_leased_job(get_settings(), args[0], int(args[1]))


if __name__ == "__main__":
    code = main()
    # Everything is committed and fsynced by now; skip the interpreter's teardown (torch's
    # takes a good fraction of a second) so the worker is free for the next job sooner.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
