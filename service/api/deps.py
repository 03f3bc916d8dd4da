"""Dependencies injected into routes: settings, a database session, the caller's tenant, Celery."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Annotated

from celery import Celery
from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, State

from adamant.settings import Settings
from adamant.store import tenants as store_tenants
from service.api.problems import Problem
from service.caller import Caller

log = logging.getLogger("adamant.service")

AUTH_CACHE_S = 30.0
FAILURES_PER_MINUTE = 20


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
    """Failed key attempts in a sliding minute, per (key prefix, client) and per client.

    Counted per prefix as well as per client because one address is often many people (a
    reverse proxy, an office NAT): failures with one prefix must not throttle other keys. The
    per-client cap, higher, catches guessing with ever-new prefixes. Either only ever refuses
    further *failed* attempts: a valid key is checked first and always passes (get_caller).
    Memory is bounded: each counter keeps at most its cap of times, and at most `max_tracked`
    counters are kept (the stalest dropped first).
    """

    def __init__(self, per_minute: int = FAILURES_PER_MINUTE, per_client_per_minute: int = 10 * FAILURES_PER_MINUTE,
                 max_tracked: int = 100_000) -> None:
        self.per_minute = per_minute
        self.per_client_per_minute = per_client_per_minute
        self.max_tracked = max_tracked
        self.attempts: dict[tuple[str, str], deque[float]] = {}

    def blocked(self, prefix: str, client: str) -> bool:
        return (self._full((prefix, client), self.per_minute)
                or self._full(("", client), self.per_client_per_minute))

    def record(self, prefix: str, client: str) -> None:
        now = time.monotonic()
        for counter, cap in (((prefix, client), self.per_minute), (("", client), self.per_client_per_minute)):
            times = self.attempts.pop(counter, None) or deque(maxlen=cap)
            times.append(now)
            self.attempts[counter] = times  # re-inserted: the dict's order is least recently failed first
        while len(self.attempts) > self.max_tracked:
            del self.attempts[next(iter(self.attempts))]

    def _full(self, counter: tuple[str, str], cap: int) -> bool:
        times = self.attempts.get(counter)
        return times is not None and len(times) >= cap and time.monotonic() - times[0] < 60.0


class RevocationWatch:
    """Makes a key revoked in any service process stop working here within about a second,
    although answers are cached for AUTH_CACHE_S: at most once a second (and only while
    requests come) it asks the database which keys' revocations took effect since it last
    asked, and drops those from the cache. One small query a second per process."""

    INTERVAL_S = 1.0

    def __init__(self) -> None:
        self.asked_at = float("-inf")  # monotonic
        self.database_time: float | None = None  # the database clock at the last answer
        self.asking = False

    async def refresh(self, state: State) -> None:
        if self.asking or time.monotonic() - self.asked_at < self.INTERVAL_S:
            return
        self.asking = True
        try:
            digests, self.database_time = await run_in_threadpool(self._ask, state.sessions, self.database_time)
            for digest in digests:
                state.auth_cache.pop(digest, None)
        except Exception as exc:  # the database is down: the lookups fail on their own; keep serving the cache
            log.debug("revocation check skipped: %s", exc)
        finally:
            self.asked_at = time.monotonic()
            self.asking = False

    @staticmethod
    def _ask(sessions, since: float | None) -> tuple[list[str], float]:  # type: ignore[no-untyped-def]
        with sessions() as session:
            return store_tenants.revoked_key_digests(session, since)


def presented_key(headers: Headers) -> str | None:
    header = headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return headers.get("x-api-key") or None


def client_address(peer: str | None, headers: Headers, trusted_proxies: Sequence[IPv4Network | IPv6Network]) -> str:
    """Who failed attempts are counted against: the direct peer, unless the peer is one of
    ADAMANT_TRUSTED_PROXIES; then the nearest address its X-Forwarded-For (else Forwarded)
    chain names that is not itself a trusted proxy. A forwarded header from anyone else is the
    client's own word, and ignored (else an attacker picks a fresh address per attempt)."""
    if peer is None:
        return "unknown"
    if not _is_trusted(peer, trusted_proxies):
        return peer
    hops = _forwarded_hops(headers)
    for hop in reversed(hops):  # appended left to right, so the rightmost entries are the ones our proxies wrote
        if not _is_trusted(hop, trusted_proxies):
            return hop
    return hops[0] if hops else peer


def _forwarded_hops(headers: Headers) -> list[str]:
    forwarded_for = ",".join(headers.getlist("x-forwarded-for"))
    if forwarded_for.strip():
        return [_bare_address(hop) for hop in forwarded_for.split(",") if hop.strip()]
    hops = []
    for element in ",".join(headers.getlist("forwarded")).split(","):  # RFC 7239: for=192.0.2.60;proto=http, for=...
        for pair in element.split(";"):
            name, _, value = pair.strip().partition("=")
            if name.lower() == "for" and value:
                hops.append(_bare_address(value))
    return hops


def _bare_address(hop: str) -> str:
    """'"[2001:db8::1]:4711"' -> '2001:db8::1', '192.0.2.60:80' -> '192.0.2.60'; other tokens kept (at most 64 characters)."""
    hop = hop.strip().strip('"')
    if hop.startswith("["):
        return hop[1:].split("]", 1)[0]
    if hop.count(":") == 1:
        hop = hop.split(":", 1)[0]
    return hop[:64]


def _is_trusted(address: str, trusted_proxies: Sequence[IPv4Network | IPv6Network]) -> bool:
    if not trusted_proxies:
        return False
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in trusted_proxies)


def _authenticate(sessions, key: str) -> Caller | None:  # type: ignore[no-untyped-def]
    with sessions() as session:
        tenant = store_tenants.authenticate(session, key)
    if tenant is None:
        return None
    return Caller.of(tenant)


_noting: set[asyncio.Task[None]] = set()  # held until done: the loop keeps only weak references to tasks


def _note_use_later(sessions, key: str) -> None:  # type: ignore[no-untyped-def]
    """Stamp the key's last use in the background: the request does not wait for a write. Runs
    on a cache miss only, so at most once per AUTH_CACHE_S per key and process."""
    task = asyncio.get_running_loop().create_task(run_in_threadpool(_note_use, sessions, key))
    _noting.add(task)
    task.add_done_callback(_noting.discard)


def _note_use(sessions, key: str) -> None:  # type: ignore[no-untyped-def]
    try:
        with sessions() as session:
            store_tenants.note_key_used(session, key)
    except Exception as exc:  # a busy or unreachable database: a missed stamp is not worth an error
        log.debug("last use of a key not recorded: %s", exc)


def forget_tenant(request: Request, tenant_id: str) -> None:
    """Drop this process's cached callers of a tenant (its limits changed); other service
    processes see the change when their entries expire (AUTH_CACHE_S)."""
    cache = request.app.state.auth_cache
    for digest in [d for d, (caller, _) in cache.items() if caller.tenant_id == tenant_id]:
        cache.pop(digest, None)


def forget_key(request: Request, key_sha256: str) -> None:
    """Drop this process's cached answer for one key (just revoked); others drop it within a
    second (RevocationWatch)."""
    request.app.state.auth_cache.pop(key_sha256, None)


async def get_caller(request: Request) -> Caller:
    """The tenant behind the API key (see authenticate)."""
    return await authenticate(request.app.state, request.headers, request.client.host if request.client else None)


async def authenticate(state: State, headers: Headers, peer: str | None) -> Caller:
    """The tenant behind the request's API key, or a Problem (401, or 429 for a client that
    keeps failing). Also called by service.api.early_auth before a request's body is read.

    Keys are checked by their sha256 digest (constant-time in the store); a recent answer is
    cached per digest for AUTH_CACHE_S, so a dashboard polling every second does not pay a
    database lookup per request; a revoked key's entry is dropped within a second
    (RevocationWatch). The key is always checked first: a valid key is never refused because
    others failed from the same address. Failed attempts are counted per (key prefix, client
    address) and per client address; past the caps further failures answer 429.
    """
    key = presented_key(headers)
    if key is None:
        raise _unauthorized()
    await state.revocations.refresh(state)
    digest = store_tenants.key_digest(key)
    cached = state.auth_cache.get(digest)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    caller = await run_in_threadpool(_authenticate, state.sessions, key)
    if caller is not None:
        state.auth_cache[digest] = (caller, time.monotonic() + AUTH_CACHE_S)
        _note_use_later(state.sessions, key)
        return caller
    client = client_address(peer, headers, state.settings.trusted_proxies)
    prefix = key[:8]
    blocked = state.auth_failures.blocked(prefix, client)
    state.auth_failures.record(prefix, client)  # blocked or not: a client that keeps trying stays blocked
    if blocked:
        raise Problem(429, "Too many failed sign-ins",
                      "too many invalid API keys from this client in the last minute; a valid key still works",
                      kind="auth-rate-limited", headers={"Retry-After": "60"})
    raise _unauthorized()


def _unauthorized() -> Problem:
    return Problem(401, "Unauthorized", "send a valid API key as 'Authorization: Bearer <key>'",
                   headers={"WWW-Authenticate": 'Bearer realm="adamant"'})


def require_admin(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    if not caller.is_admin:
        raise Problem(403, "Forbidden", "this needs the admin key")
    return caller


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
CallerDep = Annotated[Caller, Depends(get_caller)]
AdminDep = Annotated[Caller, Depends(require_admin)]
CeleryDep = Annotated[Celery, Depends(get_celery)]
