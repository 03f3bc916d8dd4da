"""Schedules: a model's recurring batch scoring or retraining, on a cron expression in a time zone.

A schedule fires when its next_run_at has come. Firing is one transaction: a guarded UPDATE
moves next_run_at from the tick it read to the first tick after now, and only the process whose
UPDATE matched creates the tick's monitoring run (adamant/store/monitor_runs.py) in that same
transaction. Several API replicas sweeping at once therefore fire each tick exactly once; a
service that was down across several ticks fires once when it is back, not once per missed tick
(the next tick is computed from now, not from the missed one). Resuming a paused schedule
likewise starts from the next tick after now.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from adamant.store.db import database_time, translated_errors, write_transaction
from adamant.store.exceptions import NotFound
from adamant.store.models import MonitorRun, RegisteredModel, Schedule
from adamant.store.registry import get_model


class ScheduleError(ValueError):
    """A cron expression or time zone that cannot be used; `field` names which."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def next_tick(cron: str, timezone: str, after: float) -> float:
    """The first tick of `cron` in `timezone` strictly after epoch second `after`."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {timezone!r} (an IANA name such as Europe/Paris)", "timezone") from exc
    if not croniter.is_valid(cron):
        raise ScheduleError(f"{cron!r} is not a cron expression (five fields: minute hour day month weekday)", "cron")
    start = datetime.fromtimestamp(after, UTC).astimezone(zone)
    return float(croniter(cron, start).get_next(datetime).timestamp())


def create_schedule(
    session: Session, tenant_id: str, name: str, *, kind: str, cron: str, timezone: str, target: str,
    dataset: dict[str, Any],
) -> Schedule:
    with write_transaction(session):
        model = get_model(session, tenant_id, name)
        schedule = Schedule(tenant_id=tenant_id, model_id=model.id, kind=kind, cron=cron, timezone=timezone,
                            target=target, dataset=dataset,
                            next_run_at=next_tick(cron, timezone, database_time(session)))
        session.add(schedule)
        session.flush()
        return schedule


def list_schedules(session: Session, tenant_id: str, model: RegisteredModel | None = None) -> list[Schedule]:
    query = select(Schedule).where(Schedule.tenant_id == tenant_id)
    if model is not None:
        query = query.where(Schedule.model_id == model.id)
    with translated_errors():
        return list(session.scalars(query.order_by(Schedule.created_at, Schedule.id)
                                    .execution_options(populate_existing=True)))


def get_schedule(session: Session, tenant_id: str, schedule_id: str) -> Schedule:
    with translated_errors():
        schedule = session.get(Schedule, schedule_id, populate_existing=True)
    if schedule is None or schedule.tenant_id != tenant_id:
        raise NotFound("schedule", schedule_id)
    return schedule


def set_paused(session: Session, tenant_id: str, schedule_id: str, paused: bool) -> Schedule:
    """Pause, or resume from the next tick after now (ticks missed while paused do not run)."""
    with write_transaction(session):
        schedule = get_schedule(session, tenant_id, schedule_id)
        if schedule.paused and not paused:
            schedule.next_run_at = next_tick(schedule.cron, schedule.timezone, database_time(session))
        schedule.paused = paused
        session.flush()
        return schedule


def delete_schedule(session: Session, tenant_id: str, schedule_id: str) -> None:
    with write_transaction(session):
        session.delete(get_schedule(session, tenant_id, schedule_id))


def fire_due(session: Session, now: float | None = None, *, limit: int = 50) -> list[MonitorRun]:
    """Fire every schedule whose tick has come (`now`: the database's clock unless given): for
    each, one guarded UPDATE and one new monitoring run in one transaction. Returns the runs
    this call created; a tick another process fired first is skipped."""
    now = database_time(session) if now is None else now
    with translated_errors():
        due = session.execute(select(Schedule.id, Schedule.next_run_at)
                              .where(Schedule.paused.is_(False), Schedule.next_run_at <= now)
                              .order_by(Schedule.next_run_at).limit(limit)).all()
    session.rollback()
    return [run for schedule_id, tick in due if (run := _fire(session, schedule_id, tick, now)) is not None]


def _fire(session: Session, schedule_id: str, tick: float, now: float) -> MonitorRun | None:
    with write_transaction(session):
        schedule = session.get(Schedule, schedule_id, populate_existing=True)
        if schedule is None:
            return None
        following = next_tick(schedule.cron, schedule.timezone, max(now, tick))
        claimed = session.execute(
            update(Schedule)
            .where(Schedule.id == schedule_id, Schedule.next_run_at == tick, Schedule.paused.is_(False))
            .values(next_run_at=following, last_run_at=now, runs=Schedule.runs + 1)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]  # fired by another process
            return None
        run = MonitorRun(tenant_id=schedule.tenant_id, model_id=schedule.model_id, schedule_id=schedule.id,
                         state="due", findings={"tick": tick, "kind": schedule.kind, "target": schedule.target,
                                                "dataset": schedule.dataset})
        session.add(run)
        session.flush()
        session.execute(update(Schedule).where(Schedule.id == schedule_id).values(last_run_id=run.id))
        return run
