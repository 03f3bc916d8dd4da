"""The Celery app of the worker: shared configuration, plus the tasks module.

Start a worker with `celery -A worker.celery_app worker -Q cpu` (add `gpu` on a GPU machine;
one process per concurrent job: `-c N`). Importing this module imports no torch: the training
itself runs in a supervised subprocess (worker/supervisor.py).
"""

from __future__ import annotations

from adamant.queue import make_celery
from adamant.settings import get_settings

app = make_celery(get_settings(), name="adamant-worker")
app.conf.include = ["worker.tasks"]
