"""The Celery app of the worker: shared configuration, plus the tasks module.

Start a worker with `celery -A worker.celery_app worker -Q cpu` (add `gpu` on a GPU machine;
one process per concurrent job: `-c N`). Importing this module imports no torch: the training
itself runs in a supervised subprocess (worker/supervisor.py).

Logging is ours, not Celery's (ADAMANT_LOG_FORMAT, adamant/logging_setup.py): connecting
`setup_logging` stops Celery from configuring its own, and each task's records carry the
job id it was sent for.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

from celery.signals import setup_logging, task_postrun, task_prerun, worker_init, worker_shutting_down

from adamant.logging_setup import configure_logging, job_context
from adamant.queue import make_celery
from adamant.settings import get_settings

app = make_celery(get_settings(), name="adamant-worker")
app.conf.include = ["worker.tasks"]


def drain_marker(main_pid: int) -> str:
    """A file whose existence tells this worker's supervisors to drain their trainers."""
    return str(get_settings().home.absolute() / "run" / f"drain-{main_pid}")


@worker_shutting_down.connect
def _drain_on_shutdown(**_: object) -> None:
    # Warm shutdown waits for running tasks; a training task could run for hours. Tell the
    # supervisors (our pool children) to drain: their trainers checkpoint at the next step and
    # put the job back in the queue, so the worker stops in seconds and no work is lost.
    marker = drain_marker(os.getpid())
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    open(marker, "w").close()


@worker_init.connect
def _clear_stale_drain_marker(**_: object) -> None:
    try:
        os.remove(drain_marker(os.getpid()))
    except FileNotFoundError:
        pass


def watch_parent(parent_pid: int, interval_s: float = 1.0) -> threading.Thread:
    """Warm-shut this worker down (SIGTERM to itself) once `parent_pid` is no longer its parent:
    a worker started by `python -m service.embedded` must not outlive it, even when that process
    is killed with no chance to stop it."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


@worker_init.connect
def _stop_with_parent(**_: object) -> None:
    parent = os.environ.get("ADAMANT_PARENT_PID", "")
    if parent.isdigit():
        watch_parent(int(parent))


@setup_logging.connect
def _configure_logging(loglevel: Any = None, **_: object) -> None:
    configure_logging(get_settings(), "worker", level=loglevel or None)


_task_contexts: dict[str, Any] = {}  # task id -> the job_context entered for it


@task_prerun.connect
def _enter_job_context(task_id: str = "", args: Any = None, kwargs: Any = None, **_: object) -> None:
    job_id = (args[0] if args else None) or (kwargs or {}).get("job_id")
    if isinstance(job_id, str):
        context = job_context(job_id=job_id)
        context.__enter__()
        _task_contexts[task_id] = context


@task_postrun.connect
def _leave_job_context(task_id: str = "", **_: object) -> None:
    context = _task_contexts.pop(task_id, None)
    if context is not None:
        context.__exit__(None, None, None)
