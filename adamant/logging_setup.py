"""Logging for every Adamant process: text for a person at a terminal, JSON lines for containers.

`configure_logging(settings, process)` is called once per process — the service
(service/app.py), the Celery worker (worker/celery_app.py, instead of Celery's own set-up) and
the trainer (worker/trainer_process.py). ADAMANT_LOG_FORMAT=json writes one JSON object per
line; each record carries the job it concerns (job_id, tenant_id, attempt) when known.

What job a record concerns travels beside the call, not through it: code that works on a job
wraps it in `job_context(job_id=..., ...)` — a context variable, which follows asyncio tasks
and FastAPI's thread-pool hops, so a request's fields never leak into another's — and a
process that exists for one job (the trainer) calls `bind_job(...)` once, which every thread
of the process sees. Every record logged meanwhile, by our loggers or Celery's or uvicorn's,
gets the fields; fields passed with `extra={"job_id": ...}` win over both.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

JOB_FIELDS = ("job_id", "tenant_id", "attempt")
_job: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("adamant_job", default={})

# The attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(job_prefix)s%(message)s"


_process_job: dict[str, Any] = {}


def bind_job(**fields: Any) -> None:
    """Attach job fields to every later record of this process, all threads (a trainer's job)."""
    _process_job.update({k: v for k, v in fields.items() if v is not None})


def clear_job() -> None:
    _process_job.clear()
    _job.set({})


@contextlib.contextmanager
def job_context(**fields: Any) -> Iterator[None]:
    """Records logged inside carry these job fields; the previous fields come back after."""
    token = _job.set({**_job.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _job.reset(token)


def current_job() -> dict[str, Any]:
    return {**_process_job, **_job.get()}


class JobFieldsFilter(logging.Filter):
    """Copies the context's job fields onto each record (explicit `extra=` fields win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current_job().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        job_id = getattr(record, "job_id", None)
        record.job_prefix = f"[{job_id}] " if job_id else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, process,
    the job fields, anything passed with `extra=`, and the traceback as `exc_info`."""

    def __init__(self, process: str = "") -> None:
        super().__init__()
        self.process_name = process

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": self.process_name or record.processName,
            "pid": record.process,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key != "job_prefix" and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack_info"] = record.stack_info
        return json.dumps(document, default=str, ensure_ascii=False)


def make_handler(log_format: str, process: str = "", stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(process) if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(JobFieldsFilter())
    return handler


def configure_logging(settings: Any, process: str, *, level: str | int | None = None, stream: Any = None) -> None:
    """Route every record of this process through one root handler in ADAMANT_LOG_FORMAT.

    In json mode, loggers that bring their own handlers (uvicorn's) are made to propagate to
    the root instead, so their lines come out as JSON too; in text mode they keep theirs.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(make_handler(settings.log_format, process, stream))
    root.setLevel(level or settings.log_level.upper())
    if settings.log_format != "json":
        return
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "celery.task", "celery.redirected"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
