"""The images' commands, run as plain processes: what docker-compose.yml and the Dockerfile say
each container runs (migrate, api, worker-cpu), with the environment compose gives it, against
this machine's Redis and PostgreSQL instead of the compose network's. If these pass, a container
built from the Dockerfile runs the same command lines with the same settings.

One stack for the module (starting processes is the slow part): migrate runs once, then the
API and one CPU worker; the scale-out test adds a second worker, as `--scale worker-cpu=2` would.
"""

from __future__ import annotations

import io
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from deploy.compose_images import (
    COMPOSE_SECRETS,
    ServiceProcess,
    load_compose,
    local_environment,
    locally_runnable,
    parse_dockerfile,
    replace_in,
    service_process,
)
from support.data import synthetic_customers
from support.stack import (
    create_pg_database,
    drop_pg_database,
    free_port,
    fresh_redis_url,
    job_report,
    postgres_available,
    redis_available,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VENV_BIN = Path(sys.executable).parent
CONTAINER_PORT = "8000"
# Jobs in the scale-out burst. Each job's trainer is a fresh interpreter (worker/supervisor.py),
# ~3-4 s on an idle 2-core CI machine: 12 jobs keep the module near a minute; enough for two
# workers to race for every message.
BURST = 12


@dataclass
class LocalCompose:
    """The compose services as local processes: each with its own ADAMANT_HOME (a container's
    own filesystem) and one shared artifacts folder (the `artifacts` volume)."""

    root: Path
    compose: dict
    overrides: dict[str, str]
    port: int
    admin_key: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def service(self, name: str) -> ServiceProcess:
        return service_process(self.compose, parse_dockerfile(), name)

    def replacements(self, node: str | None = None) -> dict[str, str]:
        # What Docker's port mapping and each container's own hostname do, done by hand: the
        # API listens on a free loopback port, and each worker has its own Celery node name.
        out = {f"127.0.0.1:{CONTAINER_PORT}": f"127.0.0.1:{self.port}", "0.0.0.0": "127.0.0.1"}
        if node is not None:
            out["cpu@%h"] = f"{node}@%h"
        return out

    def argv(self, process: ServiceProcess, node: str | None = None) -> list[str]:
        argv = replace_in(process.argv, self.replacements(node))
        if "--port" in argv:
            argv[argv.index("--port") + 1] = str(self.port)
        return locally_runnable(argv)

    def healthcheck_argv(self, process: ServiceProcess, node: str | None = None) -> list[str]:
        assert process.healthcheck, f"{process.name} has no healthcheck"
        return replace_in(process.healthcheck, self.replacements(node))

    def env(self, process: ServiceProcess, container: str) -> dict[str, str]:
        home = self.root / container
        home.mkdir(parents=True, exist_ok=True)
        return local_environment(process, {**self.overrides, "ADAMANT_HOME": str(home)}, VENV_BIN)

    def run_once(self, name: str, timeout: float = 60) -> subprocess.CompletedProcess:
        process = self.service(name)
        return subprocess.run(self.argv(process), cwd=self.root, env=self.env(process, name),
                              capture_output=True, text=True, timeout=timeout)

    def start(self, name: str, container: str, node: str | None = None) -> subprocess.Popen:
        process = self.service(name)
        log = (self.root / f"{container}.log").open("ab")
        # cwd is not the checkout: the commands must work from the image's WORKDIR, on the
        # installed packages (here the venv's editable install), not on files beside them.
        env = self.env(process, container)
        popen = subprocess.Popen(self.argv(process, node), cwd=env["ADAMANT_HOME"], env=env,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[container] = popen
        return popen

    def healthcheck(self, name: str, container: str, node: str | None = None) -> subprocess.CompletedProcess:
        process = self.service(name)
        return subprocess.run(self.healthcheck_argv(process, node), cwd=self.root, env=self.env(process, container),
                              capture_output=True, text=True, timeout=30)

    def wait_healthy(self, name: str, container: str, node: str | None = None, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        result = None
        while time.monotonic() < deadline:
            if self.processes[container].poll() is not None:
                raise AssertionError(f"{container} exited {self.processes[container].returncode}:\n{self.log_tail(container)}")
            result = self.healthcheck(name, container, node)
            if result.returncode == 0:
                return
            time.sleep(0.5)
        raise AssertionError(f"{container} never healthy: {result and result.stderr}\n{self.log_tail(container)}")

    def log_tail(self, container: str, lines: int = 40) -> str:
        path = self.root / f"{container}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop_all(self) -> None:
        for popen in self.processes.values():  # SIGTERM, as `docker compose down` sends
            if popen.poll() is None:
                os.killpg(popen.pid, signal.SIGTERM)
        for popen in self.processes.values():
            try:
                popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCompose]:
    if not (postgres_available() and redis_available()):
        pytest.skip("needs PostgreSQL and Redis on 127.0.0.1 (scripts/services.sh starts them)")
    root = tmp_path_factory.mktemp("compose")
    admin_key = secrets.token_urlsafe(32)
    compose = load_compose({**os.environ, **{name: secrets.token_hex(20) for name in COMPOSE_SECRETS}, "ADAMANT_ADMIN_KEY": admin_key})
    database_url = create_pg_database()
    broker_url, prefix = fresh_redis_url()
    artifacts = root / "artifacts-volume"
    artifacts.mkdir()
    overrides = {
        "DATABASE_URL": database_url,  # postgres:5432 on the compose network
        "BROKER_URL": broker_url,  # redis:6379 on the compose network
        "ADAMANT_BROKER_PREFIX": prefix,  # this machine's Redis is shared with other test runs
        "ADAMANT_ARTIFACTS": str(artifacts),  # the `artifacts` volume
        "WEB_CONCURRENCY": "1",  # two uvicorn processes would only slow a 2-core CI machine
        "ADAMANT_TORCH_THREADS": "1",
        "TINI_SUBREAPER": "1",  # tini is not PID 1 here: let it reap orphans as it would there
    }
    stack = LocalCompose(root, compose, overrides, free_port(), admin_key)
    try:
        yield stack
    finally:
        stack.stop_all()
        drop_pg_database(database_url)


@pytest.fixture(scope="module")
def running(cluster: LocalCompose) -> LocalCompose:
    """migrate (once, to completion), then api and one worker-cpu: compose's start order."""
    migrated = cluster.run_once("migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    cluster.start("api", "api")
    cluster.start("worker-cpu", "worker-cpu-1", node="cpu1")
    cluster.wait_healthy("api", "api")
    return cluster


@pytest.fixture(scope="module")
def tenant(running: LocalCompose) -> tuple[str, str]:
    """A tenant's key and an uploaded dataset (written by the API to the shared volume)."""
    with httpx.Client(base_url=running.base_url, headers={"Authorization": f"Bearer {running.admin_key}"}, timeout=30) as admin:
        created = admin.post("/v1/tenants", json={"name": "deploy", "max_concurrent_jobs": 100})
        assert created.status_code == 201, created.text
    key = created.json()["api_key"]
    csv = io.BytesIO()
    synthetic_customers(rows=300).to_csv(csv, index=False)
    with client_for(running, key) as client:
        upload = client.post("/v1/datasets", files={"file": ("customers.csv", csv.getvalue(), "text/csv")})
        assert upload.status_code == 201, upload.text
    return key, upload.json()["ref"]


def client_for(stack: LocalCompose, key: str) -> httpx.Client:
    return httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def small_job(dataset_ref: str, name: str) -> dict:
    return {
        "name": name,
        "task": "binary_classification",
        "dataset": {"ref": dataset_ref, "target": "converted", "drop": ["customer_id"]},
        "model": {"type": "logistic"},
        "training": {"epochs": 1, "batch_size": 100, "log_every_steps": 1},
    }


def wait_finished(client: httpx.Client, job_ids: list[str], timeout: float) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    done: dict[str, dict] = {}
    while time.monotonic() < deadline and len(done) < len(job_ids):
        for job_id in job_ids:
            if job_id not in done:
                job = client.get(f"/v1/jobs/{job_id}").json()
                if job["status"] in ("succeeded", "failed", "cancelled"):
                    done[job_id] = job
        time.sleep(0.3)
    unfinished = [job_id for job_id in job_ids if job_id not in done]
    if unfinished:  # the first few, in full: status, state changes, log tail
        reports = "\n\n".join(job_report(client, job_id) for job_id in unfinished[:3])
        raise AssertionError(f"{len(unfinished)} of {len(job_ids)} jobs unfinished after {timeout}s\n{reports}")
    return done


def test_migrate_brings_a_fresh_database_to_head_and_exits_zero(running: LocalCompose) -> None:
    from adamant.store.db import make_engine
    from adamant.store.migrate import is_current

    engine = make_engine(running.overrides["DATABASE_URL"])
    try:
        assert is_current(engine)  # the API was told not to migrate: this is migrate's work
    finally:
        engine.dispose()
    again = running.run_once("migrate")  # a second `up` runs it again: a no-op
    assert again.returncode == 0, again.stderr


def test_the_api_healthcheck_command_passes_and_fails_when_it_should(running: LocalCompose) -> None:
    healthy = running.healthcheck("api", "api")
    assert healthy.returncode == 0, healthy.stderr
    process = running.service("api")
    wrong_port = replace_in(running.healthcheck_argv(process), {str(running.port): str(free_port())})
    unhealthy = subprocess.run(wrong_port, env=running.env(process, "api"), capture_output=True, text=True, timeout=30)
    assert unhealthy.returncode == 1 and "unreachable" in unhealthy.stderr


def test_the_worker_healthcheck_pings_its_own_node(running: LocalCompose) -> None:
    running.wait_healthy("worker-cpu", "worker-cpu-1", node="cpu1")
    absent = running.healthcheck("worker-cpu", "worker-cpu-1", node="nobody")
    assert absent.returncode == 1 and "did not answer" in absent.stderr


def test_a_submitted_job_is_run_by_the_worker_to_succeeded(running: LocalCompose, tenant: tuple[str, str]) -> None:
    key, dataset_ref = tenant
    with client_for(running, key) as client:
        submitted = client.post("/v1/jobs", json=small_job(dataset_ref, "first"))
        assert submitted.status_code == 202, submitted.text
        job = wait_finished(client, [submitted.json()["id"]], timeout=120)[submitted.json()["id"]]
        checkpoints = client.get(f"/v1/jobs/{job['id']}/checkpoints").json()["checkpoints"]
    assert job["status"] == "succeeded", (job["error"], running.log_tail("worker-cpu-1"))
    assert job["attempt"] == 1
    assert checkpoints, "no checkpoint"
    # Written by the worker's trainer into the shared volume, where the API serves it from.
    assert (Path(running.overrides["ADAMANT_ARTIFACTS"]) / "jobs" / job["id"]).is_dir()


def test_two_workers_drain_one_queue_and_run_each_job_once(running: LocalCompose, tenant: tuple[str, str]) -> None:
    key, dataset_ref = tenant
    running.start("worker-cpu", "worker-cpu-2", node="cpu2")
    running.wait_healthy("worker-cpu", "worker-cpu-2", node="cpu2")  # subscribed before the burst
    with client_for(running, key) as client:
        ids = []
        for i in range(BURST):
            reply = client.post("/v1/jobs", json=small_job(dataset_ref, f"burst-{i}"))
            assert reply.status_code == 202, reply.text
            ids.append(reply.json()["id"])
        jobs = wait_finished(client, ids, timeout=240)  # a bound for a loaded machine, not the expected time
    for job in jobs.values():
        assert job["status"] == "succeeded", (job["id"], job["error"])
        assert job["attempt"] == 1, job["id"]
        assert [event["to_status"] for event in job["history"]].count("running") == 1, job["history"]
    by_worker = Counter(job["worker"] for job in jobs.values())
    assert len(by_worker) == 2, f"one worker ran everything: {by_worker}"
    assert min(by_worker.values()) >= 3, by_worker
