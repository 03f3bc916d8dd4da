"""Sweeps, comparisons and their trials: the controller's whole memory lives in these rows.

A sweep's status and a trial's state change as a job's does (adamant.store.jobs): one guarded
``UPDATE … WHERE id = :id AND status IN (:sources)``, the sources being those the table in
adamant.store.states allows into the new status, whose returned row is checked (none:
InvalidTransition, nothing written), and for a sweep one sweep_events row in the same
transaction. So a cancelled sweep is never later marked succeeded by a slow controller step,
and a trial that ended never runs again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from adamant import asha
from adamant.store import jobs as store_jobs
from adamant.store.db import db_now, decode_cursor, encode_cursor, translated_errors, write_transaction
from adamant.store.exceptions import InvalidTransition, NotFound
from adamant.store.jobs import Lease
from adamant.store.models import Sweep, SweepEvent, Trial, json_safe
from adamant.store.states import SWEEP_TRANSITIONS, TRIAL_TRANSITIONS, SweepStatus, TrialState, sources

ACTIVE = SweepStatus.RUNNING


def create_sweep(session: Session, tenant_id: str, *, kind: str, name: str | None, request: Mapping[str, Any], total_trials: int) -> Sweep:
    with write_transaction(session):
        sweep = Sweep(tenant_id=tenant_id, kind=kind, name=name, request=json_safe(dict(request)),
                      total_trials=total_trials, status=SweepStatus.RUNNING)
        session.add(sweep)
        session.flush()
        session.execute(insert(SweepEvent).values(
            sweep_id=sweep.id, seq=1, from_status=None, to_status=SweepStatus.RUNNING, at=sweep.created_at, reason="created",
        ))
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


TRIAL_FIELDS = frozenset({"job_id", "value", "rungs", "stopped_at_epoch"})


def _trial_values(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values) - TRIAL_FIELDS
    if unknown:
        raise ValueError(f"cannot set {sorted(unknown)} on a trial (its state changes through move_trial)")
    return {**values, "rungs": json_safe(values["rungs"])} if "rungs" in values else dict(values)


def update_trial(session: Session, sweep_id: str, number: int, **values: Any) -> None:
    """Set a trial's job, value, rungs or stop epoch; never its state (move_trial)."""
    values = _trial_values(values)
    with write_transaction(session):
        session.execute(update(Trial).where(Trial.sweep_id == sweep_id, Trial.number == number).values(**values))


def move_trial(session: Session, sweep_id: str, number: int, to: TrialState | str, **values: Any) -> None:
    """Move a trial to `to` (and set `values` with it) in one UPDATE guarded by the trial table.

    InvalidTransition, and nothing written, when the trial is in no state the table allows `to`
    from (a trial that ended never runs again; one the sweep's cancel ended is not then completed).
    """
    to = TrialState(to)
    allowed = sources(to, TRIAL_TRANSITIONS)
    values = _trial_values(values)
    with write_transaction(session):
        moved = session.execute(
            update(Trial)
            .where(Trial.sweep_id == sweep_id, Trial.number == number, Trial.state.in_(allowed))
            .values(state=to, **values)
            .returning(Trial.number)
        ).one_or_none()
        if moved is None:
            actual = session.scalar(select(Trial.state).where(Trial.sweep_id == sweep_id, Trial.number == number))
            if actual is None:
                raise NotFound("trial", f"{sweep_id}/{number}")
            raise InvalidTransition(f"{sweep_id}/{number}", allowed, actual, to, what="trial")


def finish_sweep(session: Session, sweep_id: str, status: SweepStatus | str, *, best_trial: int | None = None,
                 error: str | None = None, reason: str | None = None) -> Sweep:
    """End a running sweep as `status` in one UPDATE guarded by the sweep table, plus its event row.

    InvalidTransition, and nothing written, when the sweep is in no status the table allows
    `status` from: whichever of the user's cancel and the controller's finish comes second is
    refused. `reason` (default: the error, else who ends it) goes in the event.
    """
    to = SweepStatus(status)
    allowed = sources(to, SWEEP_TRANSITIONS)
    with write_transaction(session):
        # Locked first so the event's from_status is the status the guarded UPDATE below moved from.
        current = session.scalar(select(Sweep.status).where(Sweep.id == sweep_id).with_for_update())
        if current is None:
            raise NotFound("sweep", sweep_id)
        sweep = session.execute(
            update(Sweep)
            .where(Sweep.id == sweep_id, Sweep.status.in_(allowed))
            .values(status=to, best_trial=best_trial, error=error, finished_at=db_now(), controller_until=None)
            .returning(Sweep)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if sweep is None:
            raise InvalidTransition(sweep_id, allowed, current, to, what="sweep")
        seq = session.scalar(select(func.coalesce(func.max(SweepEvent.seq), 0)).where(SweepEvent.sweep_id == sweep_id))
        session.execute(insert(SweepEvent).values(
            sweep_id=sweep_id, seq=seq + 1, from_status=current, to_status=to, at=sweep.finished_at,
            reason=reason or error or SWEEP_TRANSITIONS[(current, to)],
        ))
    return sweep


def sweep_events(session: Session, sweep_id: str) -> list[SweepEvent]:
    """The sweep's status changes, oldest first (its creation the first)."""
    with translated_errors():
        return list(session.scalars(select(SweepEvent).where(SweepEvent.sweep_id == sweep_id).order_by(SweepEvent.seq)))


def judge_rungs(session: Session, lease: Lease, evaluations: Iterable[tuple[str, float, float | None]]) -> int | None:
    """ASHA, applied by a sweep trial's own trainer as it writes evaluations (name, epoch, value).

    Records the value at each rung these evaluations reach and, at the first rung where the
    trial ranks below the top 1/η of the values recorded there, asks the job to stop
    (running -> cancelling, fenced by the lease) and returns that rung; None: go on (or not a
    trial under ASHA). One transaction with the sweep's row locked: two trials reaching a rung
    at once are ranked one after the other, each against the other's value.
    """
    with translated_errors():  # a read first: most jobs are not trials, and take no write lock
        found = session.execute(
            select(Trial.sweep_id, Sweep.request)
            .join(Sweep, Sweep.id == Trial.sweep_id)
            .where(Trial.job_id == lease.job_id, Trial.state == TrialState.RUNNING, Sweep.kind == "sweep", Sweep.status == ACTIVE)
        ).first()
    rule = asha.rule_of(found.request) if found else None
    if rule is None:
        return None
    points = [(epoch, value) for name, epoch, value in evaluations
              if name == rule.metric and value is not None and math.isfinite(value)]
    if not points:
        return None
    with write_transaction(session, durable=False):
        session.execute(select(Sweep.id).where(Sweep.id == found.sweep_id).with_for_update())
        siblings = session.scalars(select(Trial).where(Trial.sweep_id == found.sweep_id).execution_options(populate_existing=True)).all()
        trial = next(t for t in siblings if t.job_id == lease.job_id)
        if trial.state != TrialState.RUNNING:
            return None  # ended while this trainer wrote its evaluation
        seen, stopped = dict(trial.rungs or {}), None
        for rung in rule.rungs:
            if str(rung) in seen:
                continue
            value = asha.value_at(points, rung)
            if value is None:
                break
            seen[str(rung)] = value
            recorded = [float(t.rungs[str(rung)]) for t in siblings if t is not trial and (t.rungs or {}).get(str(rung)) is not None]
            if not asha.promotable(value, [*recorded, value], rule.reduction_factor, rule.mode):
                stopped = rung
                try:
                    store_jobs.stop_within(session, lease, (
                        f"stopped by ASHA at epoch {rung} of sweep {found.sweep_id}: {rule.metric} {value:.4g} is not in "
                        f"the top 1/{rule.reduction_factor} of the {len(recorded) + 1} trials that reached it"
                    ))
                except InvalidTransition:
                    pass  # already cancelling: the user's cancel stops it all the same
                break
        values: dict[str, Any] = {"rungs": json_safe(seen)}
        if stopped is not None:
            values["stopped_at_epoch"] = float(stopped)
        session.execute(update(Trial).where(Trial.sweep_id == found.sweep_id, Trial.number == trial.number).values(**values))
    return stopped
