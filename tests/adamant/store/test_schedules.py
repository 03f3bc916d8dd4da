"""Schedules on SQLite and PostgreSQL: each tick fires once however many processes sweep, a
service that was down fires a missed tick once, a paused schedule fires nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adamant.store import Tenant, registry
from adamant.store import schedules as store_schedules
from adamant.store.models import MonitorRun
from adamant.store.schedules import ScheduleError, fire_due, next_tick

DATASET = {"ref": "builtin:bank-marketing", "format": "auto", "delimiter": None}


def epoch(text: str, zone: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def test_the_next_tick_is_local_time_in_the_schedules_zone_across_a_dst_change() -> None:
    # 02:30 every night in Paris: 01:30 UTC in winter, 00:30 UTC in summer (DST began 2026-03-29)
    assert next_tick("30 2 * * *", "Europe/Paris", epoch("2026-03-27 12:00")) == epoch("2026-03-28 01:30")
    assert next_tick("30 2 * * *", "Europe/Paris", epoch("2026-03-30 12:00")) == epoch("2026-03-31 00:30")
    assert next_tick("0 * * * *", "UTC", epoch("2026-01-01 10:00")) == epoch("2026-01-01 11:00")  # strictly after
    with pytest.raises(ScheduleError, match="time zone") as error:
        next_tick("0 2 * * *", "Mars/Olympus", 0.0)
    assert error.value.field == "timezone"
    with pytest.raises(ScheduleError, match="not a cron expression"):
        next_tick("every night", "UTC", 0.0)


def nightly(session: Session, tenant: Tenant) -> str:
    registry.create_model(session, tenant.id, "churn", "binary_classification")
    schedule = store_schedules.create_schedule(session, tenant.id, "churn", kind="score", cron="0 2 * * *",
                                               timezone="UTC", target="production", dataset=DATASET)
    return schedule.id


def mine(fired: list[MonitorRun], schedule_id: str) -> list[MonitorRun]:
    """The runs of this test's schedule (the database holds other tests' schedules too)."""
    return [run for run in fired if run.schedule_id == schedule_id]


def runs_of(session: Session, schedule_id: str) -> list[MonitorRun]:
    session.rollback()
    return list(session.scalars(select(MonitorRun).where(MonitorRun.schedule_id == schedule_id)))


def test_a_tick_fires_once_and_missed_ticks_fire_once_not_once_each(session: Session, tenant: Tenant) -> None:
    schedule_id = nightly(session, tenant)
    tick = store_schedules.get_schedule(session, tenant.id, schedule_id).next_run_at
    assert mine(fire_due(session, now=tick - 1), schedule_id) == []  # not yet

    fired = mine(fire_due(session, now=tick + 5), schedule_id)
    assert [run.state for run in fired] == ["due"] and fired[0].findings["kind"] == "score"
    assert mine(fire_due(session, now=tick + 6), schedule_id) == []  # the tick is spent
    schedule = store_schedules.get_schedule(session, tenant.id, schedule_id)
    assert schedule.next_run_at == tick + 86400 and schedule.runs == 1 and schedule.last_run_id == fired[0].id

    # the service was down for three nights: one run when it is back, then the next night's tick
    back = tick + 3 * 86400 + 3600
    assert len(mine(fire_due(session, now=back), schedule_id)) == 1
    assert store_schedules.get_schedule(session, tenant.id, schedule_id).next_run_at == tick + 4 * 86400
    assert len(runs_of(session, schedule_id)) == 2


def test_a_paused_schedule_fires_nothing_and_resumes_from_the_next_tick(session: Session, tenant: Tenant) -> None:
    schedule_id = nightly(session, tenant)
    tick = store_schedules.get_schedule(session, tenant.id, schedule_id).next_run_at
    store_schedules.set_paused(session, tenant.id, schedule_id, True)
    assert mine(fire_due(session, now=tick + 10 * 86400), schedule_id) == []
    resumed = store_schedules.set_paused(session, tenant.id, schedule_id, False)
    assert resumed.next_run_at >= tick  # from now, not the ten missed nights
    assert runs_of(session, schedule_id) == []
    with pytest.raises(registry.NotFound):
        store_schedules.get_schedule(session, "ten_other", schedule_id)


@pytest.mark.integration
def test_processes_sweeping_at_once_fire_each_tick_exactly_once(
    session: Session, session_factory: sessionmaker[Session], tenant: Tenant
) -> None:
    schedule_id = nightly(session, tenant)
    tick = store_schedules.get_schedule(session, tenant.id, schedule_id).next_run_at

    def sweep(_: int) -> int:
        with session_factory() as own:
            return len(mine(fire_due(own, now=tick + 1), schedule_id))

    with ThreadPoolExecutor(8) as pool:
        fired = list(pool.map(sweep, range(8)))
    assert sum(fired) == 1, fired
    assert len(runs_of(session, schedule_id)) == 1
