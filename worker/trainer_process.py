"""The training process: `python -m worker.trainer_process JOB_ID LEASE_TOKEN`.

Started by the supervisor in its own process group: forked from the worker's warm fork server
(worker/job_process.py; a fresh interpreter with ADAMANT_FORK_JOBS=false). CUDA is only ever
initialised here, never in a Celery process nor in the fork server, which imports torch but
never touches the device. It trains the job with the engine
inside the leased-child frame (worker/leased_child.py: the lease, the fenced DatabaseReporter,
SIGTERM, how a failure maps to an exit code) and records how the job ended. On SIGTERM, or
when the supervisor dies, the trainer stops at its next step, writes a checkpoint and puts the
job back in the queue.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from adamant.artifacts import artifact_mirror, local_copy, publish
from adamant.datasets.resolve import is_object_reference
from adamant.exceptions import CheckpointError
from adamant.logging_setup import bind_job, configure_logging
from adamant.monitoring.holdout import HOLDOUT_FILE
from adamant.monitoring.reference import REFERENCE_FILE
from adamant.settings import Settings, get_settings
from adamant.spec import JobSpec, load_stored_spec
from adamant.store import checkpoints as store_checkpoints
from adamant.store import jobs as store_jobs
from adamant.store import tenants as store_tenants
from adamant.store.exceptions import NotFound
from worker.leased_child import EXIT_RECORDED, LeasedJob, exit_process, run_leased

log = logging.getLogger("adamant.trainer")


def run_dir_for(settings: Settings, job_id: str) -> Path:
    return settings.job_dir(job_id) / "run"


def train_leased_job(settings: Settings, job_id: str, token: int) -> int:
    import torch

    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    return run_leased(
        settings, job_id, token, train,
        out_dir=lambda lease: run_dir_for(settings, lease.job_id),
        artifacts=artifact_mirror(settings),  # operations: upload checkpoints to ADAMANT_ARTIFACTS_URL
        on_lease=lambda tenant_id, lease: bind_job(job_id=job_id, tenant_id=tenant_id, attempt=lease.attempt),
    )


def train(job: LeasedJob) -> int:
    """Train the job (resuming from its latest checkpoint) and record how it ended."""
    from worker.engine.reporting import FanOutReporter
    from worker.engine.run import run_training
    from worker.engine.tensorboard import TensorBoardReporter

    settings, sessions, lease, reporter = job.settings, job.sessions, job.lease, job.reporter
    run_dir = reporter.run_dir
    tensorboard = TensorBoardReporter(run_dir / "tensorboard")
    try:
        spec = load_stored_spec(job.stored_spec)  # StoredSpecInvalid is a user error: failed once
        init_from = _init_checkpoint(sessions, settings, job.tenant_id, spec)
        _fetch_latest_checkpoint(sessions, settings, lease.job_id)
        result = run_training(
            spec, run_dir, FanOutReporter(reporter, tensorboard), file_roots=settings.file_roots,
            uploads=job.uploads, object_prefixes=dataset_prefixes(job, spec.dataset.ref), init_from=init_from,
            resume=True, max_parameters=settings.max_model_parameters,
            max_memory_bytes=settings.max_training_memory_bytes,
        )
        if result.stop_reason == "cancelled" and reporter.draining and not reporter.cancel_requested:
            # Stopped because the worker is going away, with a checkpoint just written:
            # back to the queue; another worker resumes from it. Never recorded as a success.
            reporter.flush(phase="draining")
            return job.requeue("the worker shut down; resuming from the latest checkpoint")
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
    finally:
        tensorboard.close()


def dataset_prefixes(job: LeasedJob, ref: str) -> list[str]:
    """The tenant's allowed object-store prefixes, read now (an admin may have narrowed them since
    the submit) when `ref` names an object store; [] for any other reference."""
    if not is_object_reference(ref):
        return []
    with job.sessions() as session:
        return list(store_tenants.get_tenant(session, job.tenant_id).dataset_prefixes or [])


def _mirror_reference(settings: Settings, run_dir: Path) -> None:
    """The training data's reference profile and validation rows go to ADAMANT_ARTIFACTS_URL with
    the checkpoints: a scoring job on another host measures drift against the one and compares
    models on the other."""
    for path in (run_dir / REFERENCE_FILE, run_dir / HOLDOUT_FILE):
        if not path.exists():
            continue
        try:
            publish(settings, path)
        except Exception as exc:  # the store's trouble, not the job's: scoring elsewhere goes without
            log.warning("could not upload %s: %s", path.name, exc)


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
    exit_process(main())
