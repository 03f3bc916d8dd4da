"""Sweeps, comparisons and their trials: the controller's whole memory lives in these rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from adamant.store.db import db_now, decode_cursor, encode_cursor, translated_errors, write_transaction
from adamant.store.exceptions import InvalidTransition, NotFound
from adamant.store.models import Sweep, Trial, json_safe

ACTIVE = "running"
TERMINAL = ("succeeded", "failed", "cancelled")


def create_sweep(session: Session, tenant_id: str, *, kind: str, name: str | None, request: Mapping[str, Any], total_trials: int) -> Sweep:
    with write_transaction(session):
        sweep = Sweep(tenant_id=tenant_id, kind=kind, name=name, request=json_safe(dict(request)), total_trials=total_trials)
        session.add(sweep)
        session.flush()
    return sweep


def get_sweep(session: Session, tenant_id: str, sweep_id: str, *, kind: str | None = None) -> Sweep:
    query = select(Sweep).where(Sweep.id == sweep_id, Sweep.tenant_id == tenant_id)
    if kind is not None:
        query = query.where(Sweep.kind == kind)
    with translated_errors():
        sweep = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if sweep is None:
        raise NotFound(kind or "sweep", sweep_id)
    return sweep


def list_sweeps(session: Session, tenant_id: str, *, kind: str, limit: int = 50, cursor: str | None = None) -> tuple[list[Sweep], str | None]:
    query = select(Sweep).where(Sweep.tenant_id == tenant_id, Sweep.kind == kind)
    if cursor:
        created_at, sweep_id = decode_cursor(cursor, float, str)
        query = query.where(or_(Sweep.created_at < created_at, (Sweep.created_at == created_at) & (Sweep.id < sweep_id)))
    query = query.order_by(Sweep.created_at.desc(), Sweep.id.desc()).limit(limit + 1)
    with translated_errors():
        rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)


def running_sweeps(session: Session, limit: int = 100) -> list[Sweep]:
    with translated_errors():
        return list(session.scalars(select(Sweep).where(Sweep.status == ACTIVE).order_by(Sweep.created_at).limit(limit)))


def take_controller(session: Session, sweep_id: str, hold_s: float) -> bool:
    """Become the one controller of a running sweep for hold_s seconds (False: another holds it)."""
    with write_transaction(session):
        statement = (
            update(Sweep)
            .where(Sweep.id == sweep_id, Sweep.status == ACTIVE)
            .where(or_(Sweep.controller_until.is_(None), Sweep.controller_until < db_now()))
            .values(controller_until=db_now() + hold_s)
            .returning(Sweep.id)
        )
        return session.execute(statement).one_or_none() is not None


def release_controller(session: Session, sweep_id: str) -> None:
    with write_transaction(session):
        session.execute(update(Sweep).where(Sweep.id == sweep_id).values(controller_until=None))


def trials(session: Session, sweep_id: str) -> list[Trial]:
    with translated_errors():
        query = select(Trial).where(Trial.sweep_id == sweep_id).order_by(Trial.number)
        return list(session.scalars(query.execution_options(populate_existing=True)))


def record_trial(session: Session, sweep_id: str, number: int, *, params: Mapping[str, Any], label: str | None = None) -> Trial:
    """A trial's configuration, stored before its job is submitted (so a new controller replays it)."""
    with write_transaction(session):
        trial = Trial(sweep_id=sweep_id, number=number, params=json_safe(dict(params)), label=label, rungs={})
        session.add(trial)
        session.flush()
    return trial


def update_trial(session: Session, sweep_id: str, number: int, **values: Any) -> None:
    allowed = {"job_id", "state", "value", "rungs", "stopped_at_epoch"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"cannot set {sorted(unknown)} on a trial")
    if "rungs" in values:
        values["rungs"] = json_safe(values["rungs"])
    with write_transaction(session):
        session.execute(update(Trial).where(Trial.sweep_id == sweep_id, Trial.number == number).values(**values))


def finish_sweep(session: Session, sweep_id: str, status: str, *, best_trial: int | None = None, error: str | None = None) -> None:
    if status not in TERMINAL:
        raise ValueError(f"a sweep ends as one of {TERMINAL}, not {status!r}")
    with write_transaction(session):
        result = session.execute(
            update(Sweep)
            .where(Sweep.id == sweep_id, Sweep.status == ACTIVE)
            .values(status=status, best_trial=best_trial, error=error, finished_at=db_now(), controller_until=None)
        )
        if result.rowcount != 1:
            raise InvalidTransition(sweep_id, ACTIVE, "finished", status)
