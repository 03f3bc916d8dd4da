"""Webhooks and their outbox: a tenant's endpoints, the events queued for them, the delivery log.

An event is queued by `enqueue` inside the transaction that made it (a job's final status, an
alias moved, a monitoring verdict), one delivery row per subscribed webhook, so an event is
never announced for a change that rolled back, nor lost when the service dies before sending.
The service's background loop (service/webhook_sender.py) claims due rows with a guarded UPDATE
(two replicas never send the same attempt), sends them and records the outcome here: delivered,
or retried with exponential backoff until MAX_ATTEMPTS, then failed. The rows are the delivery
log the API shows, kept KEEP_S (30 days) once settled.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from adamant.store.db import db_now, translated_errors, write_transaction
from adamant.store.exceptions import NotFound
from adamant.store.models import Webhook, WebhookDelivery, json_safe

EVENTS = ("job.finished", "model.alias_moved", "model.drift", "model.decision")
MAX_ATTEMPTS = 8
BACKOFF_S = (10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0)  # after attempt 1, 2, ...; the last repeats
CLAIM_S = 60.0  # a claimed attempt not recorded by then (its sender died) is due again
KEEP_S = 30 * 86400.0  # the delivery log keeps delivered and failed deliveries this long


def create_webhook(session: Session, tenant_id: str, url: str, events: list[str]) -> Webhook:
    with write_transaction(session):
        webhook = Webhook(tenant_id=tenant_id, url=url, events=sorted(set(events)),
                          secret="whsec_" + secrets.token_hex(24))
        session.add(webhook)
        session.flush()
        return webhook


def list_webhooks(session: Session, tenant_id: str) -> list[Webhook]:
    query = select(Webhook).where(Webhook.tenant_id == tenant_id).order_by(Webhook.created_at, Webhook.id)
    with translated_errors():
        return list(session.scalars(query))


def get_webhook(session: Session, tenant_id: str, webhook_id: str) -> Webhook:
    with translated_errors():
        webhook = session.get(Webhook, webhook_id, populate_existing=True)
    if webhook is None or webhook.tenant_id != tenant_id:
        raise NotFound("webhook", webhook_id)
    return webhook


def delete_webhook(session: Session, tenant_id: str, webhook_id: str) -> None:
    with write_transaction(session):
        session.delete(get_webhook(session, tenant_id, webhook_id))  # its deliveries go with it


def enqueue(session: Session, tenant_id: str, event: str, payload: dict[str, Any]) -> int:
    """Queue `event` for each of the tenant's webhooks that subscribes to it, in the caller's
    transaction (no commit). Returns how many deliveries were queued."""
    hooks = session.scalars(select(Webhook).where(Webhook.tenant_id == tenant_id)).all()
    body = json_safe({"event": event, **payload})
    queued = 0
    for hook in hooks:
        if event in hook.events or "*" in hook.events:
            session.add(WebhookDelivery(webhook_id=hook.id, event=event, payload=body))
            queued += 1
    return queued


def deliveries(session: Session, webhook: Webhook, limit: int = 100) -> list[WebhookDelivery]:
    query = (select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
             .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit))
    with translated_errors():
        return list(session.scalars(query.execution_options(populate_existing=True)))


def claim_due(session: Session, *, limit: int = 20) -> list[tuple[WebhookDelivery, Webhook]]:
    """Pending deliveries whose time has come, each claimed for CLAIM_S by a guarded UPDATE
    (the row's attempts as read): a delivery another replica claimed first is skipped."""
    with write_transaction(session, durable=False):
        now = session.scalar(select(db_now()))
        due = session.execute(
            select(WebhookDelivery.id, WebhookDelivery.attempts)
            .where(WebhookDelivery.state == "pending", WebhookDelivery.next_at <= now)
            .order_by(WebhookDelivery.next_at).limit(limit)
        ).all()
        claimed = []
        for delivery_id, attempts in due:
            moved = session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id, WebhookDelivery.state == "pending",
                       WebhookDelivery.attempts == attempts)
                .values(attempts=attempts + 1, next_at=now + CLAIM_S)
            )
            if moved.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(delivery_id)
    found = []
    for delivery_id in claimed:
        delivery = session.get(WebhookDelivery, delivery_id, populate_existing=True)
        if delivery is not None:
            found.append((delivery, session.get(Webhook, delivery.webhook_id)))
    return [(delivery, hook) for delivery, hook in found if hook is not None]


def record_attempt(session: Session, delivery_id: str, attempt: int, *, status: int | None, error: str | None) -> str:
    """The outcome of attempt number `attempt`: a 2xx is delivered; anything else is retried after
    BACKOFF_S, or failed after MAX_ATTEMPTS. Returns the delivery's new state."""
    delivered = status is not None and 200 <= status < 300
    with write_transaction(session):
        now = session.scalar(select(db_now()))
        if delivered:
            values: dict[str, Any] = {"state": "delivered", "delivered_at": now, "last_error": None}
        elif attempt >= MAX_ATTEMPTS:
            values = {"state": "failed", "last_error": error}
        else:
            values = {"next_at": now + BACKOFF_S[min(attempt, len(BACKOFF_S)) - 1], "last_error": error}
        session.execute(update(WebhookDelivery)
                        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.attempts == attempt)
                        .values(last_status=status, **values))
    return str(values.get("state", "pending"))


def redeliver(session: Session, tenant_id: str, webhook_id: str, delivery_id: str) -> WebhookDelivery:
    """Send a delivery again now (a failed one starts its attempts over)."""
    with write_transaction(session):
        webhook = get_webhook(session, tenant_id, webhook_id)
        delivery = session.get(WebhookDelivery, delivery_id, populate_existing=True)
        if delivery is None or delivery.webhook_id != webhook.id:
            raise NotFound("delivery", delivery_id)
        delivery.state, delivery.next_at, delivery.attempts = "pending", session.scalar(select(db_now())), 0
        session.flush()
        return delivery


def prune_deliveries(session: Session, keep_s: float = KEEP_S) -> int:
    """Forget delivered and failed deliveries older than `keep_s` (pending ones are kept whatever
    their age); returns how many went."""
    with write_transaction(session, durable=False):
        now = session.scalar(select(db_now()))
        gone = session.execute(delete(WebhookDelivery).where(WebhookDelivery.state.in_(("delivered", "failed")),
                                                             WebhookDelivery.created_at < now - keep_s))
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]
