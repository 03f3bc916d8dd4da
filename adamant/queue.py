"""The Celery configuration both sides share, and publishing "run job X" (torch-free).

The broker only carries wake-up calls; the database decides whether a job runs (a worker must
claim it with a lease), so a lost message is re-published by the outbox sweep and a duplicated
one finds the job already claimed. Hence the settings chosen for long jobs:

- ack early (task_acks_late=False) and never prefetch: a message waiting behind a long job past
  Redis's visibility timeout would otherwise be re-delivered and run again (celery#7918, #5935);
- JSON only: pickle through the broker is code execution for anyone who can write to Redis;
- results ignored: the jobs table is the record;
- finite socket timeouts and endless reconnects, so a restarted Redis does not hang workers.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from adamant.settings import Settings

# The one task that runs every kind of job (training, scoring). Its wire name predates scoring
# jobs and stays "adamant.train": messages already queued by a running deployment must still run.
RUN_JOB_TASK = "adamant.train"
QUEUES = ("cpu", "gpu")


def celery_config(settings: Settings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "broker_url": settings.broker_url,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_ignore_result": True,
        "task_acks_late": False,
        "worker_prefetch_multiplier": 1,
        "worker_disable_prefetch": True,
        "task_default_queue": "cpu",
        "task_create_missing_queues": True,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_hijack_root_logger": False,
        "worker_soft_shutdown_timeout": 10.0,
        "broker_transport_options": {},
    }
    if settings.broker_url.startswith("filesystem://"):
        folder = settings.broker_folder
        for part in ("queue", "processed", "control"):
            (folder / part).mkdir(parents=True, exist_ok=True)
        config["broker_transport_options"] = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            # The exchange tables; kombu's default is ./control, in whatever folder the process started.
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
    elif settings.broker_url.startswith(("redis://", "rediss://")):
        config["broker_transport_options"] = {
            "visibility_timeout": 3600,
            "socket_timeout": 10,
            "socket_connect_timeout": 5,
            "socket_keepalive": True,
            "retry_on_timeout": True,
            "health_check_interval": 10,
        }
        if settings.broker_prefix:
            config["broker_transport_options"]["global_keyprefix"] = settings.broker_prefix
    return config


def make_celery(settings: Settings, name: str = "adamant") -> Celery:
    app = Celery(name)
    app.conf.update(celery_config(settings))
    return app


def queue_for(device: str) -> str:
    """cuda jobs need a GPU worker; cpu and auto jobs go to the cpu queue, which GPU workers
    also consume (started with -Q gpu,cpu), so an auto job uses a GPU when one is free."""
    return "gpu" if device == "cuda" else "cpu"


def publish_job(app: Celery, job_id: str, queue: str, priority: int = 5) -> None:
    app.send_task(RUN_JOB_TASK, args=[job_id], queue=queue, priority=priority)
