"""A monitoring run's decision, on SQLite and PostgreSQL: a winning challenger moves the alias
(compare-and-set from the champion) and the decision, the alias move and their webhooks commit
together; a losing one stays a candidate with the comparison written on its version; manual
approval waits for a person; an alias a person moved meanwhile is not overridden."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from adamant.monitoring.policy import Comparison, Policy
from adamant.store import Tenant, registry
from adamant.store import monitor_runs as store_runs
from adamant.store import webhooks as store_webhooks
from adamant.store.models import MonitorRun, WebhookDelivery
from service.model_monitor import approve, decide

from .test_registry import trained


def comparing(session: Session, tenant: Tenant, policy: Policy) -> tuple[registry.RegisteredModel, MonitorRun]:
    """churn v1 in production, v2 retrained, the run comparing them; a webhook subscribed to all."""
    model = registry.create_model(session, tenant.id, "churn", "binary_classification")
    for auc in (0.8, 0.82):
        registry.register_version(session, tenant.id, "churn", trained(session, tenant, auc).id)
    registry.set_alias(session, tenant.id, "churn", "production", 1, actor="key:aaaa1111")
    store_webhooks.create_webhook(session, tenant.id, "https://crm.example.com/hooks", ["model.decision", "model.alias_moved"])
    with session.begin():
        model = session.get(registry.RegisteredModel, model.id)
        model.policy = policy.to_dict()
        run = MonitorRun(tenant_id=tenant.id, model_id=model.id, state="comparing", champion_version=1,
                         challenger_version=2, findings={})
        session.add(run)
    return model, run


def result(champion: float, challenger: float, margin: float = 0.0) -> Comparison:
    return Comparison(metric="auc", higher_is_better=True, champion=champion, challenger=challenger,
                      improvement=challenger - champion, margin=margin, rows=1000,
                      challenger_wins=challenger - champion > margin)


def queued(session: Session, tenant: Tenant) -> list[str]:
    session.rollback()
    hooks = store_webhooks.list_webhooks(session, tenant.id)
    return sorted(session.scalars(select(WebhookDelivery.event).where(WebhookDelivery.webhook_id == hooks[0].id)))


def test_a_winning_challenger_is_promoted_with_its_decision_and_webhooks(session: Session, tenant: Tenant) -> None:
    model, run = comparing(session, tenant, Policy(margin=0.01))
    assert decide(session, run, model, Policy(margin=0.01), result(0.80, 0.83, 0.01)) == "promoted"
    assert registry.resolve(session, tenant.id, "churn").version.version == 2
    (move, *_) = registry.alias_events(session, model)
    assert (move.from_version, move.to_version, move.actor) == (1, 2, "policy") and run.id in move.reason
    done = store_runs.get_run(session, run.id)
    assert done.state == "promoted" and done.comparison["challenger"] == 0.83 and done.finished_at is not None
    assert queued(session, tenant) == ["model.alias_moved", "model.decision"]
    assert decide(session, run, model, Policy(), result(0.80, 0.83)) == "promoted"  # a second replica: nothing twice
    assert queued(session, tenant) == ["model.alias_moved", "model.decision"]


def test_a_challenger_not_better_by_the_margin_stays_a_candidate_with_the_comparison(session: Session, tenant: Tenant) -> None:
    model, run = comparing(session, tenant, Policy(margin=0.01))
    assert decide(session, run, model, Policy(margin=0.01), result(0.80, 0.805, 0.01)) == "candidate"
    assert registry.resolve(session, tenant.id, "churn").version.version == 1
    version = registry.get_version(session, model, 2)
    assert "kept as a candidate" in version.description and "auc 0.8050 (v2) vs 0.8000 (v1)" in version.description
    assert queued(session, tenant) == ["model.decision"]  # no alias moved


def test_manual_approval_waits_for_a_person_then_promotes(session: Session, tenant: Tenant) -> None:
    policy = Policy(approval="manual")
    model, run = comparing(session, tenant, policy)
    assert decide(session, run, model, policy, result(0.80, 0.85)) == "awaiting_approval"
    assert registry.resolve(session, tenant.id, "churn").version.version == 1
    waiting = store_runs.get_run(session, run.id)
    assert approve(session, waiting, model, actor="key:bbbb2222", approved=True)
    assert registry.resolve(session, tenant.id, "churn").version.version == 2
    assert registry.alias_events(session, model)[0].actor == "key:bbbb2222"
    assert not approve(session, waiting, model, actor="key:bbbb2222", approved=True)  # decided already


def test_an_alias_a_person_moved_meanwhile_is_not_overridden(session: Session, tenant: Tenant) -> None:
    model, run = comparing(session, tenant, Policy())
    registry.register_version(session, tenant.id, "churn", trained(session, tenant, 0.9).id)
    registry.set_alias(session, tenant.id, "churn", "production", 3, actor="key:cccc3333", reason="hotfix")
    assert decide(session, run, model, Policy(), result(0.80, 0.85)) == "candidate"
    assert registry.resolve(session, tenant.id, "churn").version.version == 3
    assert "not promoted" in store_runs.get_run(session, run.id).decision
