"""Session-wide real stacks (API + worker processes) on both the embedded and cluster setups."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.stack import Stack, drop_pg_database, make_stack, postgres_available, redis_available

KINDS = ["embedded", "cluster"]


def _start(kind: str, home: Path) -> Stack:
    if kind == "cluster" and not (postgres_available() and redis_available()):
        pytest.skip("cluster stack needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (scripts/test.sh starts them)")
    stack = make_stack(kind, home)
    stack.start_api()
    stack.start_worker(queues="cpu")  # no GPU worker: device=cuda jobs stay queued, as on a CPU-only cluster
    return stack


@pytest.fixture(scope="session", params=KINDS)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A running API and one worker; shared by the tests of a session (each test makes its own tenant)."""
    stack = _start(request.param, tmp_path_factory.mktemp(f"stack-{request.param}"))
    yield stack
    stack.stop_all()
    if stack.database_url:
        drop_pg_database(stack.database_url)


@pytest.fixture
def tenant_key(stack: Stack, request: pytest.FixtureRequest) -> str:
    """A fresh tenant's API key, so tests never see each other's jobs."""
    name = "t-" + request.node.name[:40].replace("[", "-").replace("]", "").replace("_", "-") + "-" + str(abs(hash(request.node.nodeid)) % 10_000)
    with stack.client() as admin:
        reply = admin.post("/v1/tenants", json={"name": name, "max_concurrent_jobs": 20})
        assert reply.status_code == 201, reply.text
        return reply.json()["api_key"]
