"""Webhooks: a tenant's endpoints for job ends, alias moves, drift verdicts and monitoring
decisions, signed and retried (service/webhook_sender.py), with each delivery's log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from adamant.exceptions import SpecError
from adamant.store import webhooks as store_webhooks
from adamant.store.models import Webhook, WebhookDelivery
from service.api.deps import CallerDep, SessionDep, SettingsDep
from service.api.schemas import DeliveryOut, WebhookIn, WebhookOut, iso
from service.webhook_sender import UnsafeURL, check_url

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def webhook_view(webhook: Webhook, *, with_secret: bool = False) -> WebhookOut:
    return WebhookOut(id=webhook.id, url=webhook.url, events=webhook.events, created_at=iso(webhook.created_at) or "",
                      secret=webhook.secret if with_secret else None)


def delivery_view(delivery: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(id=delivery.id, event=delivery.event, state=delivery.state, attempts=delivery.attempts,
                       last_status=delivery.last_status, last_error=delivery.last_error,
                       next_at=iso(delivery.next_at) if delivery.state == "pending" else None,
                       created_at=iso(delivery.created_at) or "", delivered_at=iso(delivery.delivered_at),
                       payload=delivery.payload)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookOut)
def create_webhook(body: WebhookIn, caller: CallerDep, session: SessionDep, settings: SettingsDep,
                   response: Response) -> WebhookOut:
    """Subscribe a URL to events; the answer carries the signing secret, shown this once."""
    try:
        check_url(body.url, allow_private=settings.webhook_allow_private, must_resolve=False)
    except UnsafeURL as exc:
        raise SpecError(str(exc), path="url") from exc
    webhook = store_webhooks.create_webhook(session, caller.tenant_id, body.url, list(body.events))
    response.headers["Location"] = f"/v1/webhooks/{webhook.id}"
    return webhook_view(webhook, with_secret=True)


@router.get("", response_model=list[WebhookOut])
def list_webhooks(caller: CallerDep, session: SessionDep) -> list[WebhookOut]:
    return [webhook_view(webhook) for webhook in store_webhooks.list_webhooks(session, caller.tenant_id)]


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(webhook_id: str, caller: CallerDep, session: SessionDep) -> Response:
    store_webhooks.delete_webhook(session, caller.tenant_id, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{webhook_id}/deliveries", response_model=list[DeliveryOut])
def list_deliveries(webhook_id: str, caller: CallerDep, session: SessionDep,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[DeliveryOut]:
    """The delivery log, newest first: each event's state, attempts, last HTTP status and error."""
    webhook = store_webhooks.get_webhook(session, caller.tenant_id, webhook_id)
    return [delivery_view(delivery) for delivery in store_webhooks.deliveries(session, webhook, limit)]


@router.post("/{webhook_id}/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut)
def redeliver(webhook_id: str, delivery_id: str, caller: CallerDep, session: SessionDep) -> DeliveryOut:
    """Send a delivery again now (a failed one gets its attempts back)."""
    return delivery_view(store_webhooks.redeliver(session, caller.tenant_id, webhook_id, delivery_id))
