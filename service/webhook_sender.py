"""Sending the webhook outbox: signed POSTs, retried with backoff (adamant/store/webhooks.py).

Each delivery is POSTed as JSON with three headers:

    Adamant-Event: job.finished
    Adamant-Delivery: dlv_...            (the same on every retry: receivers drop duplicates by it)
    Adamant-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the webhook's secret>

A receiver recomputes v1 over the raw body and rejects a timestamp older than a few minutes
(a replayed request), as Stripe's scheme does. A 2xx is delivered; anything else (an error
status, a timeout, a refused connection) is retried. Redirects are not followed, and a URL whose
host resolves to a private, loopback or link-local address is refused unless the operator sets
ADAMANT_WEBHOOK_ALLOW_PRIVATE (a tenant must not make the service probe the inside network).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from urllib.parse import urlsplit

import httpx

from adamant.settings import Settings
from adamant.store import webhooks as store_webhooks

log = logging.getLogger("adamant.webhooks")
TIMEOUT_S = 10.0


class UnsafeURL(ValueError):
    """A webhook URL the service will not call."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, *, tolerance_s: float = 300.0, now: float | None = None) -> bool:
    """What a receiver does (and the tests): the signature matches and is recent."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def check_url(url: str, *, allow_private: bool, must_resolve: bool = True) -> None:
    """UnsafeURL unless `url` is http(s) with a host that resolves to public addresses only. A
    webhook may be registered before its host's DNS exists (must_resolve=False); each send
    resolves it again."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("a webhook URL is http:// or https:// with a host")
    if allow_private:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except socket.gaierror as exc:
        if not must_resolve:
            return
        raise UnsafeURL(f"the host {parts.hostname!r} does not resolve: {exc}") from exc
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified:
            raise UnsafeURL(f"the host {parts.hostname!r} resolves to {ip}, an internal address "
                            "(the operator allows those with ADAMANT_WEBHOOK_ALLOW_PRIVATE)")


PRUNE_EVERY_S = 3600.0
_pruned_at = [0.0]  # when this process last pruned the delivery log


def send_due(sessions, settings: Settings) -> int:  # type: ignore[no-untyped-def]
    """Send every due delivery once (and, hourly, forget settled ones past the log's age); returns
    how many were delivered."""
    with sessions() as session:
        if time.monotonic() - _pruned_at[0] >= PRUNE_EVERY_S or not _pruned_at[0]:
            store_webhooks.prune_deliveries(session)
            _pruned_at[0] = time.monotonic()
        claimed = [(delivery.id, delivery.attempts, delivery.event, delivery.payload, hook.url, hook.secret)
                   for delivery, hook in store_webhooks.claim_due(session)]
    delivered = 0
    for delivery_id, attempt, event, payload, url, secret in claimed:
        status, error = post(url, secret, event, delivery_id, payload, allow_private=settings.webhook_allow_private)
        with sessions() as session:
            state = store_webhooks.record_attempt(session, delivery_id, attempt, status=status, error=error)
        delivered += state == "delivered"
        if state != "delivered":
            log.info("webhook delivery %s (%s) attempt %d: %s", delivery_id, event, attempt, error or status)
    return delivered


def post(url: str, secret: str, event: str, delivery_id: str, payload: dict, *, allow_private: bool) -> tuple[int | None, str | None]:  # type: ignore[type-arg]
    """POST one delivery; (HTTP status or None, what went wrong or None)."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "adamant-webhooks/1", "Adamant-Event": event,
               "Adamant-Delivery": delivery_id, "Adamant-Signature": sign(secret, int(time.time()), body)}
    try:
        check_url(url, allow_private=allow_private)  # again at send time: DNS may have changed since
        response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT_S, follow_redirects=False)
    except UnsafeURL as exc:
        return None, str(exc)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"
