"""Webhooks, sent for real to a local HTTP receiver: an event is queued in the transaction that
made it, POSTed signed (HMAC-SHA256 over "<t>.<body>"), retried with backoff until a 2xx,
given up after its attempts, and every attempt shows in the delivery log."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from adamant.settings import Settings
from adamant.store import JobStatus, Tenant, finish_job
from adamant.store import webhooks as store_webhooks
from adamant.store.db import make_engine
from adamant.store.migrate import upgrade
from adamant.store.models import WebhookDelivery
from adamant.store.tenants import create_tenant
from service.webhook_sender import UnsafeURL, check_url, send_due, sign, verify
from support.webhook_receiver import webhook_receiver


@pytest.fixture
def sessions(tmp_path) -> sessionmaker[Session]:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    upgrade(url)
    return sessionmaker(make_engine(url), expire_on_commit=False)


def a_tenant(sessions: sessionmaker[Session]) -> Tenant:
    with sessions() as session:
        return create_tenant(session, "hooks")


def finished_job(sessions: sessionmaker[Session], tenant: Tenant) -> str:
    from adamant.store import claim_job, submit_job

    with sessions() as session:
        job, _ = submit_job(session, tenant.id, {"task": "regression", "dataset": {"ref": "builtin:x"}}, name="nightly")
        lease = claim_job(session, job.id, "w1", 30)
        assert lease is not None
        finish_job(session, lease, JobStatus.SUCCEEDED, best_metrics={"val_rmse": 3.5})
        return job.id


def log_of(sessions: sessionmaker[Session], hook: store_webhooks.Webhook) -> list[WebhookDelivery]:
    with sessions() as session:
        return store_webhooks.deliveries(session, hook)


def test_a_finished_job_is_posted_signed_and_logged_as_delivered(sessions: sessionmaker[Session]) -> None:
    tenant = a_tenant(sessions)
    with webhook_receiver() as receiver, sessions() as session:
        hook = store_webhooks.create_webhook(session, tenant.id, receiver.url, ["job.finished"])
        job_id = finished_job(sessions, tenant)
        assert send_due(sessions, Settings(webhook_allow_private=True)) == 1

        (request,) = receiver.requests
        assert request.headers["Adamant-Event"] == "job.finished"
        assert verify(hook.secret, request.headers["Adamant-Signature"], request.body)
        assert not verify("whsec_someone_else", request.headers["Adamant-Signature"], request.body)
        assert request.json["job"] == {"id": job_id, "kind": "train", "name": "nightly", "status": "succeeded",
                                       "parent_id": None, "best_metrics": {"val_rmse": 3.5}, "error": None,
                                       "reason": "succeeded on w1"}
        (delivery,) = log_of(sessions, hook)
        assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)
        assert request.headers["Adamant-Delivery"] == delivery.id
        assert send_due(sessions, Settings(webhook_allow_private=True)) == 0  # nothing sent twice


def test_a_failing_receiver_is_retried_with_backoff_then_given_up(sessions: sessionmaker[Session],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = a_tenant(sessions)
    settings = Settings(webhook_allow_private=True)
    with webhook_receiver() as receiver, sessions() as session:
        hook = store_webhooks.create_webhook(session, tenant.id, receiver.url, ["*"])
        receiver.statuses = [500, 503]
        finished_job(sessions, tenant)
        assert send_due(sessions, settings) == 0
        (delivery,) = log_of(sessions, hook)
        assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 1, 500)
        assert delivery.next_at - time.time() == pytest.approx(store_webhooks.BACKOFF_S[0], abs=3)
        assert send_due(sessions, settings) == 0  # not due yet: no second POST
        assert len(receiver.requests) == 1

        def due_now() -> None:
            with sessions() as own, own.begin():
                own.execute(update(WebhookDelivery).values(next_at=0))

        due_now()
        assert send_due(sessions, settings) == 0  # 503
        due_now()
        assert send_due(sessions, settings) == 1  # 200
        (delivery,) = log_of(sessions, hook)
        assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 3, 200)
        assert len({request.headers["Adamant-Delivery"] for request in receiver.requests}) == 1  # one id, three tries

        monkeypatch.setattr(store_webhooks, "MAX_ATTEMPTS", 2)
        receiver.statuses = [500, 500]
        finished_job(sessions, tenant)
        for _ in range(2):
            due_now()
            send_due(sessions, settings)
        latest = log_of(sessions, hook)[0]
        assert (latest.state, latest.attempts, latest.last_error) == ("failed", 2, "HTTP 500: ")


def test_internal_addresses_are_refused_unless_the_operator_allows_them() -> None:
    for url in ("http://127.0.0.1:6379/", "http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data",
                "http://localhost:8000/", "ftp://example.com/x", "https:///nohost"):
        with pytest.raises(UnsafeURL):
            check_url(url, allow_private=False)
    check_url("http://127.0.0.1:9999/hook", allow_private=True)
    check_url("https://not-yet.invalid/hook", allow_private=False, must_resolve=False)  # registered before its DNS
    with pytest.raises(UnsafeURL, match="does not resolve"):
        check_url("https://not-yet.invalid/hook", allow_private=False)  # what each send checks
    body = b'{"a":1}'
    assert verify("s", sign("s", 1_000, body), body, now=1_100)
    assert not verify("s", sign("s", 1_000, body), body, now=1_000 + 301)  # replayed too late


def test_settled_deliveries_leave_the_log_after_thirty_days_and_pending_ones_stay(sessions: sessionmaker[Session]) -> None:
    tenant = a_tenant(sessions)
    with sessions() as session:
        hook = store_webhooks.create_webhook(session, tenant.id, "https://crm.example.com/hook", ["job.finished"])
        for _ in range(3):
            finished_job(sessions, tenant)
    with sessions() as session, session.begin():
        ids = [d.id for d in store_webhooks.deliveries(session, hook)]
        month_ago = time.time() - store_webhooks.KEEP_S - 60
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == ids[0]).values(state="delivered", created_at=month_ago))
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == ids[1]).values(state="pending", created_at=month_ago))
    with sessions() as session:
        assert store_webhooks.prune_deliveries(session) == 1
    assert sorted(d.id for d in log_of(sessions, hook)) == sorted(ids[1:])  # the old pending one is still owed
