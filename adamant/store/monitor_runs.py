"""Monitoring runs: one pass of a model's policy, from a schedule's tick (or a person's request)
to its decision.

States: due -> scoring -> (stable | retraining) ; a retraining schedule starts at retraining;
retraining -> comparing -> (promoted | candidate | awaiting_approval) ; awaiting_approval ->
(promoted | candidate) ; any open state -> failed (a job failed, an alias was gone). Every move
is a guarded UPDATE from the state its mover read, so two API replicas driving the same run
cannot both act on one step; the jobs a step submits carry idempotency keys made from the run's
id, so a step repeated after a crash finds the job it already made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from adamant.store.db import db_now, translated_errors, write_transaction
from adamant.store.exceptions import NotFound
from adamant.store.models import MonitorRun, RegisteredModel, json_safe

OPEN = ("due", "scoring", "retraining", "comparing")  # the loop advances these
FINAL = ("stable", "promoted", "candidate", "failed")


def create_run(session: Session, model: RegisteredModel, *, kind: str, target: str, dataset: dict[str, Any]) -> MonitorRun:
    """A run started by a person (POST .../monitor-runs) rather than a schedule's tick."""
    with write_transaction(session):
        run = MonitorRun(tenant_id=model.tenant_id, model_id=model.id, state="due",
                         findings={"kind": kind, "target": target, "dataset": dataset})
        session.add(run)
        session.flush()
        return run


def open_runs(session: Session, limit: int = 100) -> list[str]:
    query = select(MonitorRun.id).where(MonitorRun.state.in_(OPEN)).order_by(MonitorRun.created_at).limit(limit)
    with translated_errors():
        ids = list(session.scalars(query))
    session.rollback()
    return ids


def get_run(session: Session, run_id: str, tenant_id: str | None = None) -> MonitorRun:
    with translated_errors():
        run = session.get(MonitorRun, run_id, populate_existing=True)
    if run is None or (tenant_id is not None and run.tenant_id != tenant_id):
        raise NotFound("monitor run", run_id)
    return run


def list_runs(session: Session, model: RegisteredModel, limit: int = 100) -> list[MonitorRun]:
    query = (select(MonitorRun).where(MonitorRun.model_id == model.id)
             .order_by(MonitorRun.created_at.desc(), MonitorRun.id.desc()).limit(limit))
    with translated_errors():
        return list(session.scalars(query.execution_options(populate_existing=True)))


def move(
    session: Session, run_id: str, from_state: str, to_state: str, *, also: Callable[[Session], None] | None = None,
    **values: Any,
) -> bool:
    """Move the run from `from_state` to `to_state` (setting `values`), and run `also` in the same
    transaction (an alias moved, a webhook queued). False, with nothing written, when the run is
    no longer in `from_state`: another process took this step."""
    if "findings" in values or "comparison" in values:
        values = {key: json_safe(value) if key in ("findings", "comparison") else value for key, value in values.items()}
    if to_state in FINAL:
        values["finished_at"] = db_now()
    with write_transaction(session):
        moved = session.execute(update(MonitorRun).where(MonitorRun.id == run_id, MonitorRun.state == from_state)
                                .values(state=to_state, updated_at=db_now(), **values))
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return False
        if also is not None:
            also(session)
    return True
