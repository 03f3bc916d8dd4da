"""Dependencies injected into routes: settings, a database session, the caller's tenant, Celery."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from celery import Celery
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from adamant.settings import Settings
from adamant.store import tenants as store_tenants
from adamant.store.models import Tenant
from service.api.problems import Problem

AUTH_CACHE_S = 30.0
FAILURES_PER_MINUTE = 20


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    tenant_name: str
    is_admin: bool
    max_epochs: int
    max_run_time_s: float
    max_artifact_bytes: int | None = None  # the tenant's own quota (None: the service default)

    @classmethod
    def of(cls, tenant: Tenant) -> Caller:
        return cls(tenant.id, tenant.name, bool(tenant.is_admin), tenant.max_epochs, float(tenant.max_run_time_s),
                   tenant.max_artifact_bytes)


# Dependencies that do no I/O are async so FastAPI does not hop to the thread pool for them.
async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for the request; it connects lazily, on the first query (in the route's thread)."""
    session = request.app.state.sessions()
    try:
        yield session
    finally:
        await run_in_threadpool(session.close)


async def get_celery(request: Request) -> Celery:
    return request.app.state.celery


class AuthFailures:
    """Failed key attempts per client address in a sliding minute: past the cap, 429."""

    def __init__(self, per_minute: int = FAILURES_PER_MINUTE) -> None:
        self.per_minute = per_minute
        self.attempts: dict[str, list[float]] = {}

    def blocked(self, client: str) -> bool:
        now = time.monotonic()
        recent = [t for t in self.attempts.get(client, []) if now - t < 60.0]
        self.attempts[client] = recent
        return len(recent) >= self.per_minute

    def record(self, client: str) -> None:
        self.attempts.setdefault(client, []).append(time.monotonic())


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


def _authenticate(sessions, key: str) -> Caller | None:  # type: ignore[no-untyped-def]
    with sessions() as session:
        tenant = store_tenants.authenticate(session, key)
    if tenant is None:
        return None
    return Caller.of(tenant)


def forget_tenant(request: Request, tenant_id: str) -> None:
    """Drop this process's cached callers of a tenant (its limits changed); other service
    processes see the change when their entries expire (AUTH_CACHE_S)."""
    cache = request.app.state.auth_cache
    for digest in [d for d, (caller, _) in cache.items() if caller.tenant_id == tenant_id]:
        cache.pop(digest, None)


async def get_caller(request: Request) -> Caller:
    """The tenant behind the API key. Keys are checked by their sha256 digest (constant-time in
    the store); a recent answer is cached per digest for AUTH_CACHE_S, so a dashboard polling
    every second does not pay a database lookup per request (a revoked key stops working within
    that time). Failed attempts are counted per client address and capped."""
    state = request.app.state
    client = request.client.host if request.client else "unknown"
    key = _presented_key(request)
    unauthorized = Problem(
        401, "Unauthorized", "send a valid API key as 'Authorization: Bearer <key>'",
        headers={"WWW-Authenticate": 'Bearer realm="adamant"'},
    )
    if key is None:
        raise unauthorized
    digest = hashlib.sha256(key.encode()).hexdigest()
    cached = state.auth_cache.get(digest)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    if state.auth_failures.blocked(client):  # no more database lookups for this address for now
        raise Problem(429, "Too many failed sign-ins", "too many invalid API keys from this address; wait a minute",
                      kind="auth-rate-limited", headers={"Retry-After": "60"})
    caller = await run_in_threadpool(_authenticate, state.sessions, key)
    if caller is None:
        state.auth_failures.record(client)
        raise unauthorized
    state.auth_cache[digest] = (caller, time.monotonic() + AUTH_CACHE_S)
    return caller


def require_admin(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    if not caller.is_admin:
        raise Problem(403, "Forbidden", "this needs the admin key")
    return caller


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
CallerDep = Annotated[Caller, Depends(get_caller)]
AdminDep = Annotated[Caller, Depends(require_admin)]
CeleryDep = Annotated[Celery, Depends(get_celery)]
