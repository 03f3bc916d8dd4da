"""`python -m service.embedded`: the whole system on one machine with the embedded defaults.

Runs the database migrations, starts one Celery worker process (both queues) beside it, and
serves the API and the dashboard with uvicorn at http://localhost:8000. Stopping it (Ctrl-C,
SIGTERM) stops the worker too, and waits for it; a worker whose parent dies anyway (SIGKILL)
notices and stops itself (worker/celery_app.py, ADAMANT_PARENT_PID). With DATABASE_URL/BROKER_URL
set it runs the same against PostgreSQL and Redis.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from types import FrameType

import uvicorn

from adamant.settings import get_settings
from adamant.store import migrate


def worker_command(concurrency: int) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
        "-Q", "cpu,gpu", "-c", str(concurrency), "-n", "embedded@%h", "--loglevel", "INFO",
    ]


WORKER_STOP_S = 60.0  # the worker's warm shutdown: its trainers checkpoint and requeue their jobs


class Stop(BaseException):
    """SIGTERM or SIGINT reached this process (a BaseException, like KeyboardInterrupt, so no
    `except Exception` on the way swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise Stop(signum)


def stop_worker(worker: subprocess.Popen[bytes], timeout: float = WORKER_STOP_S) -> None:
    """SIGTERM the worker's process group (its pool and trainers with it), wait for it, and
    SIGKILL the group if it outlives `timeout`."""
    try:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=timeout)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)


def main() -> None:
    # uvicorn handles SIGTERM/SIGINT while it serves, then restores the handlers it found and
    # raises the signal again: with the default SIGTERM handler that killed this process before
    # it could stop the worker, which was left running as an orphan. Ours turns it into Stop.
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    host = os.environ.get("ADAMANT_HOST", "127.0.0.1")
    port = int(os.environ.get("ADAMANT_PORT", "8000"))
    concurrency = int(os.environ.get("ADAMANT_WORKER_CONCURRENCY", "1"))
    worker: subprocess.Popen[bytes] | None = None
    stopped_by: int | None = None
    try:
        migrate.upgrade(settings.database_url)
        # Its own session: a Ctrl-C in the terminal reaches this process only, which stops the
        # worker in order (warm shutdown) instead of both racing.
        worker = subprocess.Popen(worker_command(concurrency), start_new_session=True,
                                  env={**os.environ, "ADAMANT_PARENT_PID": str(os.getpid())})
        print(f"Adamant: worker pid {worker.pid}; dashboard and API at http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}", flush=True)
        # proxy_headers off: the service reads forwarded addresses itself, from ADAMANT_TRUSTED_PROXIES only.
        uvicorn.run("service.app:create_asgi_app", factory=True, host=host, port=port, log_level="info", proxy_headers=False)
    except Stop as stop:
        stopped_by = stop.signum
    finally:
        # A second signal while the worker stops must not cut the wait short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if worker is not None:
            stop_worker(worker)
    if stopped_by is not None:
        sys.exit(128 + stopped_by)  # what a shell reports for a process a signal ended


if __name__ == "__main__":
    main()
