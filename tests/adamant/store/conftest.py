"""Real databases for the store's tests, and the factories every store test uses.

Each test runs twice: on a WAL SQLite file and on a fresh PostgreSQL database
(adamant_test_<random>, created on ADAMANT_TEST_POSTGRES, default 127.0.0.1:5432 as postgres,
dropped at the end). Both are migrated with the shipped migrations, never create_all. When
PostgreSQL is not reachable its half is skipped with the reason; `-m "not integration"`
leaves it out on purpose.

Tests do not clean up between themselves: each makes its own tenant, so their rows never meet.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from adamant.store import (
    Job,
    JobStatus,
    Lease,
    Tenant,
    claim_job,
    create_tenant,
    finish_job,
    make_engine,
    make_session_factory,
    request_cancel,
    submit_job,
    upgrade,
)

POSTGRES = os.environ.get("ADAMANT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


class PostgresServer:
    """Creates and drops scratch databases through an autocommit connection to a maintenance db."""

    def __init__(self, base_url: str) -> None:
        self.base = make_url(base_url)
        self.admin: psycopg.Connection | None = None
        errors = []
        for maintenance_db in ("postgres", "test"):
            try:
                self.admin = psycopg.connect(
                    host=self.base.host or "127.0.0.1",
                    port=self.base.port or 5432,
                    user=self.base.username or "postgres",
                    password=self.base.password,
                    dbname=maintenance_db,
                    autocommit=True,
                    connect_timeout=3,
                )
                break
            except psycopg.Error as error:
                errors.append(f"{maintenance_db}: {str(error).strip().splitlines()[0]}")
        if self.admin is None:
            raise ConnectionError("; ".join(errors))

    def create_database(self) -> str:
        name = f"adamant_test_{secrets.token_hex(6)}"
        self.admin.execute(f'CREATE DATABASE "{name}"')
        return self.base.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        self.admin.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer(POSTGRES)
    except ConnectionError as error:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES} (set ADAMANT_TEST_POSTGRES): {error}")
    yield server
    server.close()


@pytest.fixture(scope="session")
def postgresql_url(postgres_server: PostgresServer) -> Iterator[str]:
    url = postgres_server.create_database()
    try:
        upgrade(url)
        yield url
    finally:
        postgres_server.drop_database(url)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'adamant.db'}"
    upgrade(url)
    return url


@pytest.fixture
def fresh_url(request: pytest.FixtureRequest, engine: Engine, tmp_path: Path) -> Iterator[str]:
    """An empty, unmigrated database of the same dialect as `engine`."""
    if engine.dialect.name == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    engine = make_engine(request.getfixturevalue(f"{request.param}_url"))
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


# ---------------------------------------------------------------------------------------------
# Factories


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(5)}"


def job_spec(epochs: int = 3, **overrides: Any) -> dict[str, Any]:
    """A plain-JSON job spec as the service stores it (the store does not validate specs)."""
    spec: dict[str, Any] = {
        "task": "binary_classification",
        "dataset": {"ref": "builtin:bank-marketing", "target": "y"},
        "model": {"type": "mlp"},
        "training": {"epochs": epochs},
    }
    spec.update(overrides)
    return spec


@pytest.fixture
def make_tenant(session: Session) -> Callable[..., Tenant]:
    def make(**limits: Any) -> Tenant:
        return create_tenant(session, unique("tenant"), **limits)

    return make


@pytest.fixture
def tenant(make_tenant: Callable[..., Tenant]) -> Tenant:
    return make_tenant(max_concurrent_jobs=1000)


def submit(session: Session, tenant: Tenant, **options: Any) -> Job:
    spec = options.pop("spec", None) or job_spec()
    job, created = submit_job(session, tenant.id, spec, **options)
    assert created
    return job


def running(
    session: Session, tenant: Tenant, *, worker: str = "worker-1", ttl_s: float = 60.0, **options: Any
) -> Lease:
    """A submitted and claimed job's lease."""
    job = submit(session, tenant, **options)
    lease = claim_job(session, job.id, worker, ttl_s)
    assert lease is not None
    return lease


def job_in(session: Session, tenant: Tenant, status: JobStatus) -> tuple[Job, Lease | None]:
    """A job brought to `status` through the public functions, and its lease while leased."""
    job = submit(session, tenant)
    if status == JobStatus.QUEUED:
        return job, None
    if status == JobStatus.CANCELLED:
        return request_cancel(session, tenant.id, job.id), None
    lease = claim_job(session, job.id, "worker-1", 60.0)
    assert lease is not None
    if status == JobStatus.RUNNING:
        return session.get(Job, job.id), lease
    if status == JobStatus.CANCELLING:
        return request_cancel(session, tenant.id, job.id), lease
    return finish_job(session, lease, status), None
