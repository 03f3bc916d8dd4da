"""`python -m service.embedded`: the whole system on one machine with the embedded defaults.

Runs the database migrations, starts one Celery worker process (both queues) beside it, and
serves the API and the dashboard with uvicorn at http://localhost:8000. Stopping it (Ctrl-C,
SIGTERM) stops the worker too. With DATABASE_URL/BROKER_URL set it runs the same against
PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import uvicorn

from adamant.settings import get_settings
from adamant.store import migrate


def worker_command(concurrency: int) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
        "-Q", "cpu,gpu", "-c", str(concurrency), "-n", "embedded@%h", "--loglevel", "INFO",
    ]


def main() -> None:
    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    host = os.environ.get("ADAMANT_HOST", "127.0.0.1")
    port = int(os.environ.get("ADAMANT_PORT", "8000"))
    concurrency = int(os.environ.get("ADAMANT_WORKER_CONCURRENCY", "1"))
    worker = subprocess.Popen(worker_command(concurrency), start_new_session=True)
    print(f"Adamant: worker pid {worker.pid}; dashboard and API at http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}", flush=True)
    try:
        # proxy_headers off: the service reads forwarded addresses itself, from ADAMANT_TRUSTED_PROXIES only.
        uvicorn.run("service.app:create_asgi_app", factory=True, host=host, port=port, log_level="info", proxy_headers=False)
    finally:
        try:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(worker.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
