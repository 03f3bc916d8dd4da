"""Real processes for integration tests: the API (uvicorn) and Celery workers, on either the
embedded defaults (SQLite + filesystem broker) or the cluster setup (PostgreSQL + Redis).

Each Stack gets its own home folder, database and broker (a fresh PostgreSQL database and a
Redis database number flushed first), so stacks never see each other's jobs or messages.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("ADAMANT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_available() -> bool:
    try:
        with closing(socket.create_connection(("127.0.0.1", 5432), timeout=1)):
            return True
    except OSError:
        return False


def redis_available() -> bool:
    try:
        with closing(socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1)) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def create_pg_database() -> str:
    import sqlalchemy as sa

    name = f"adamant_it_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(url: str) -> None:
    import sqlalchemy as sa

    name = url.rsplit("/", 1)[1]
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def fresh_redis_url() -> tuple[str, str]:
    """Redis db 0 with a key prefix of this stack's own, so concurrent test runs and benchmarks
    on one Redis never consume each other's messages."""
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0", f"adamant-it-{uuid.uuid4().hex[:12]}:"


@dataclass
class Stack:
    kind: str  # embedded | cluster
    home: Path
    env: dict[str, str]
    port: int
    admin_key: str
    database_url: str | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, key: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key or self.admin_key}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **kw)

    def _spawn(self, name: str, command: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        log = self.home / f"{name}.log"
        self.logs[name] = log
        process = subprocess.Popen(
            command, cwd=REPO, env={**self.env, **(extra_env or {})}, start_new_session=True,
            stdout=log.open("ab"), stderr=subprocess.STDOUT,
        )
        self.processes[name] = process
        return process

    def start_api(self, workers: int = 1) -> None:
        self._spawn("api", [sys.executable, "-m", "uvicorn", "service.app:create_asgi_app", "--factory",
                            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers), "--log-level", "warning",
                            "--no-proxy-headers"])  # as deployed: ADAMANT_TRUSTED_PROXIES decides (Dockerfile)
        self.wait_ready()

    def start_worker(self, name: str = "worker", concurrency: int = 1, queues: str = "cpu,gpu") -> subprocess.Popen:
        return self._spawn(name, [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "-Q", queues,
                                  "-c", str(concurrency), "-n", f"{name}@%h", "--loglevel", "INFO"],
                           {"ADAMANT_WORKER_NAME": name})

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes["api"].poll() is not None:
                raise RuntimeError(f"api exited:\n{self.log_tail('api')}")
            try:
                if httpx.get(self.base_url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"api not ready after {timeout}s:\n{self.log_tail('api')}")

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name, timeout=20)

    def log_tail(self, name: str, lines: int = 60) -> str:
        path = self.logs.get(name)
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def make_stack(kind: str, home: Path, **settings: str) -> Stack:
    admin_key = "adm_test_" + secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADAMANT_") and k not in ("DATABASE_URL", "BROKER_URL")}
    env.update({
        "ADAMANT_HOME": str(home),
        "ADAMANT_ADMIN_KEY": admin_key,
        "ADAMANT_FILE_ROOTS": str(home / "files"),
        "ADAMANT_LEASE_TTL_S": "10",
        "ADAMANT_HEARTBEAT_S": "1",
        "ADAMANT_REAPER_INTERVAL_S": "1",
        "ADAMANT_TORCH_THREADS": "1",
        "ADAMANT_UPLOAD_MAX_BYTES": str(16 * 1024 * 1024),
        "PYTHONUNBUFFERED": "1",
        **settings,
    })
    (home / "files").mkdir(parents=True, exist_ok=True)
    database_url = None
    if kind == "cluster":
        database_url = create_pg_database()
        env["DATABASE_URL"] = database_url
        env["BROKER_URL"], env["ADAMANT_BROKER_PREFIX"] = fresh_redis_url()
    return Stack(kind, home, env, free_port(), admin_key, database_url)


def job_report(client: httpx.Client, job_id: str, log_lines: int = 25, stack: Stack | None = None) -> str:
    """What a person needs when a wait expires: the job's status, error and progress, its last
    state changes, the tail of its log and, given the stack, of the worker's and the API's."""
    try:
        job = client.get(f"/v1/jobs/{job_id}").json()
        lines: list[dict] = []
        cursor = 0
        for _ in range(100):  # 10,000 a page: a bound, never reached by a test's job
            page = client.get(f"/v1/jobs/{job_id}/logs", params={"after": cursor, "limit": 10_000}).json()
            if not page.get("lines"):
                break
            lines, cursor = (lines + page["lines"])[-log_lines:], page["next_cursor"]
    except (httpx.HTTPError, ValueError) as error:
        return f"job {job_id}: could not be read ({error!r})"
    history = "\n".join(f"  {e.get('at') or ''} {e.get('from_status')} -> {e.get('to_status')} "
                        f"{e.get('reason') or ''}".rstrip() for e in (job.get("history") or [])[-8:])
    log = "\n".join(f"  [{line.get('level')}] {line.get('message')}" for line in lines)
    report = (f"job {job_id}: status {job.get('status')}, attempt {job.get('attempt')}, worker {job.get('worker')}, "
              f"progress {job.get('progress')}, error {job.get('error')}\n"
              f"last state changes:\n{history or '  (none)'}\nlast log lines:\n{log or '  (none)'}")
    if stack is not None:
        for name in stack.logs:
            report += f"\n--- {name}.log (tail) ---\n{stack.log_tail(name, 30)}"
    return report


def wait_for_job(client: httpx.Client, job_id: str, condition: Callable[[dict], bool], what: str,
                 timeout: float = 180, stack: Stack | None = None) -> dict:
    """Polls the job until `condition(job)` holds; past the deadline fails with job_report."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if condition(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g}s for {what}, in vain\n{job_report(client, job_id, stack=stack)}")
        time.sleep(0.2)


def wait_for_status(client: httpx.Client, job_id: str, statuses: set[str], timeout: float = 180,
                    stack: Stack | None = None) -> dict:
    return wait_for_job(client, job_id, lambda job: job.get("status") in statuses, f"status in {sorted(statuses)}",
                        timeout, stack)


def wait_until(condition: Callable[[], Any], what: str, timeout: float, report: Callable[[], str] = lambda: "") -> Any:
    """Polls `condition()` until it returns something true and returns that; past the deadline
    fails naming what it waited for, with `report()` (e.g. a job_report) attached."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g}s for {what}, in vain\n{report()}")
        time.sleep(0.2)


def create_tenant(stack: Stack, name: str, max_concurrent_jobs: int = 100) -> str:
    """A new tenant on the stack; returns its API key."""
    with stack.client() as admin:
        reply = admin.post("/v1/tenants", json={"name": name, "max_concurrent_jobs": max_concurrent_jobs})
        assert reply.status_code == 201, reply.text
        return reply.json()["api_key"]


def all_metrics(client: httpx.Client, job_id: str) -> list[dict]:
    points, cursor = [], 0
    for _ in range(1000):  # 10,000 a page: a bound no test's job reaches
        page = client.get(f"/v1/jobs/{job_id}/metrics", params={"after": cursor, "limit": 10000}).json()
        if not page["points"]:
            return points
        points += page["points"]
        cursor = page["next_cursor"]
    raise AssertionError(f"job {job_id}: metrics pages never ended (cursor {cursor})")
