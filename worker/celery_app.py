"""The Celery app of the worker: shared configuration, plus the tasks module.

Start a worker with `celery -A worker.celery_app worker -Q cpu` (add `gpu` on a GPU machine;
one process per concurrent job: `-c N`). Importing this module imports no torch: the training
itself runs in a supervised subprocess (worker/supervisor.py).
"""

from __future__ import annotations

import os

from celery.signals import worker_init, worker_shutting_down

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
