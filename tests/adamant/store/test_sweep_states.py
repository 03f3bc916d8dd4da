"""A sweep's status and a trial's state change as a job's does: only along their tables, in one
guarded UPDATE, a refused move writes nothing, and each sweep status change leaves an event.

Issue 10: they were plain strings set without checks, so a slow controller step could mark a
cancelled sweep succeeded, and a trial that ended could be set running again.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest
from sqlalchemy import MetaData, insert, select
from sqlalchemy.orm import Session, sessionmaker

from adamant.store import InvalidTransition, Tenant, make_engine, make_session_factory, upgrade
from adamant.store import sweeps as store_sweeps
from adamant.store.db import write_transaction
from adamant.store.models import Sweep, SweepEvent, Trial
from adamant.store.states import SWEEP_TRANSITIONS, TRIAL_TRANSITIONS, SweepStatus, TrialState

RUN, OK, FAIL, X = SweepStatus.RUNNING, SweepStatus.SUCCEEDED, SweepStatus.FAILED, SweepStatus.CANCELLED
FORBIDDEN_SWEEP = [pair for pair in itertools.product(SweepStatus, SweepStatus) if pair not in SWEEP_TRANSITIONS]
FORBIDDEN_TRIAL = [pair for pair in itertools.product(TrialState, TrialState) if pair not in TRIAL_TRANSITIONS]


def test_the_tables_hold_exactly_the_lifecycles() -> None:
    assert set(SWEEP_TRANSITIONS) == {(RUN, OK), (RUN, FAIL), (RUN, X)}
    assert set(TRIAL_TRANSITIONS) == {(TrialState.RUNNING, to) for to in TrialState if to != TrialState.RUNNING}


def new_sweep(session: Session, tenant: Tenant) -> Sweep:
    return store_sweeps.create_sweep(session, tenant.id, kind="sweep", name="states", request={"base": {}}, total_trials=2)


def sweep_in(session: Session, tenant: Tenant, status: SweepStatus) -> Sweep:
    sweep = new_sweep(session, tenant)
    if status != RUN:
        store_sweeps.finish_sweep(session, sweep.id, status, error="set up" if status == FAIL else None)
    return store_sweeps.get_sweep(session, tenant.id, sweep.id)


def events(session: Session, sweep_id: str) -> list[tuple[str | None, str, str | None]]:
    return [(e.from_status, e.to_status, e.reason) for e in store_sweeps.sweep_events(session, sweep_id)]


def row(session: Session, sweep_id: str) -> dict[str, Any]:
    sweep = session.get(Sweep, sweep_id, populate_existing=True)
    return {c: getattr(sweep, c) for c in ("status", "best_trial", "error", "finished_at", "version")}


@pytest.mark.parametrize(("current", "to"), sorted(SWEEP_TRANSITIONS))
def test_every_allowed_sweep_transition_moves_it_and_records_an_event(
    session: Session, tenant: Tenant, current: SweepStatus, to: SweepStatus
) -> None:
    sweep = sweep_in(session, tenant, current)

    moved = store_sweeps.finish_sweep(session, sweep.id, to, best_trial=1, error="why" if to == FAIL else None)

    assert moved.status == to and moved.best_trial == 1 and moved.finished_at is not None
    assert moved.controller_until is None
    history = store_sweeps.sweep_events(session, sweep.id)
    assert [(e.seq, e.from_status, e.to_status) for e in history] == [(1, None, RUN), (2, current, to)]
    assert history[0].reason == "created" and history[0].at == pytest.approx(sweep.created_at)
    assert history[1].at == pytest.approx(moved.finished_at)
    assert history[1].reason == ("why" if to == FAIL else SWEEP_TRANSITIONS[(current, to)])


@pytest.mark.parametrize(("current", "to"), FORBIDDEN_SWEEP)
def test_a_forbidden_sweep_transition_raises_and_changes_nothing(
    session: Session, tenant: Tenant, current: SweepStatus, to: SweepStatus
) -> None:
    sweep = sweep_in(session, tenant, current)
    before, history = row(session, sweep.id), events(session, sweep.id)

    with pytest.raises(InvalidTransition) as refused:
        store_sweeps.finish_sweep(session, sweep.id, to, best_trial=7, error="late")

    assert (refused.value.what, refused.value.job_id, refused.value.actual, refused.value.to) == ("sweep", sweep.id, current, to)
    assert str(refused.value).startswith(f"sweep {sweep.id} is {current}; it must be ")
    assert row(session, sweep.id) == before
    assert events(session, sweep.id) == history


def trial_in(session: Session, tenant: Tenant, state: TrialState) -> tuple[str, int]:
    sweep = new_sweep(session, tenant)
    store_sweeps.record_trial(session, sweep.id, 0, params={"optimizer.lr": 0.01})
    if state != TrialState.RUNNING:
        store_sweeps.move_trial(session, sweep.id, 0, state, value=0.5)
    return sweep.id, 0


def trial_row(session: Session, sweep_id: str, number: int) -> tuple[Any, ...]:
    trial = session.get(Trial, (sweep_id, number), populate_existing=True)
    return trial.state, trial.value, trial.stopped_at_epoch


@pytest.mark.parametrize(("current", "to"), sorted(TRIAL_TRANSITIONS))
def test_every_allowed_trial_transition_moves_it_with_its_values(
    session: Session, tenant: Tenant, current: TrialState, to: TrialState
) -> None:
    sweep_id, number = trial_in(session, tenant, current)

    store_sweeps.move_trial(session, sweep_id, number, to, value=0.75, stopped_at_epoch=2.0)

    assert trial_row(session, sweep_id, number) == (to, 0.75, 2.0)


@pytest.mark.parametrize(("current", "to"), FORBIDDEN_TRIAL)
def test_a_forbidden_trial_transition_raises_and_changes_nothing(
    session: Session, tenant: Tenant, current: TrialState, to: TrialState
) -> None:
    sweep_id, number = trial_in(session, tenant, current)
    before = trial_row(session, sweep_id, number)

    with pytest.raises(InvalidTransition) as refused:
        store_sweeps.move_trial(session, sweep_id, number, to, value=0.99, stopped_at_epoch=9.0)

    assert (refused.value.what, refused.value.actual, refused.value.to) == ("trial", current, to)
    assert trial_row(session, sweep_id, number) == before


def test_a_trials_state_is_not_set_around_the_table(session: Session, tenant: Tenant) -> None:
    sweep_id, number = trial_in(session, tenant, TrialState.COMPLETE)

    with pytest.raises(ValueError, match="move_trial"):
        store_sweeps.update_trial(session, sweep_id, number, state="running")

    assert trial_row(session, sweep_id, number)[0] == TrialState.COMPLETE


def test_a_cancel_before_a_slow_controller_finish_wins(session: Session, tenant: Tenant) -> None:
    sweep = new_sweep(session, tenant)

    store_sweeps.finish_sweep(session, sweep.id, X, reason="cancelled by the user")
    with pytest.raises(InvalidTransition):  # the controller's step read every trial ended before the cancel
        store_sweeps.finish_sweep(session, sweep.id, OK, best_trial=0)

    assert row(session, sweep.id)["status"] == X and row(session, sweep.id)["best_trial"] is None
    assert events(session, sweep.id) == [(None, RUN, "created"), (RUN, X, "cancelled by the user")]


def test_a_controller_finish_before_a_cancel_wins(session: Session, tenant: Tenant) -> None:
    sweep = new_sweep(session, tenant)

    store_sweeps.finish_sweep(session, sweep.id, OK, best_trial=0, reason="done")
    with pytest.raises(InvalidTransition):
        store_sweeps.finish_sweep(session, sweep.id, X)

    assert row(session, sweep.id)["status"] == OK
    assert events(session, sweep.id) == [(None, RUN, "created"), (RUN, OK, "done")]


def test_a_cancel_and_a_controller_finish_at_once_end_the_sweep_once(
    session_factory: sessionmaker[Session], session: Session, tenant: Tenant
) -> None:
    for _ in range(5):
        sweep = new_sweep(session, tenant)
        start = threading.Barrier(2)
        outcomes: dict[SweepStatus, str] = {}

        def end(status: SweepStatus, sweep_id: str = sweep.id, start: threading.Barrier = start) -> None:
            with session_factory() as own:
                start.wait()
                try:
                    store_sweeps.finish_sweep(own, sweep_id, status, best_trial=0 if status == OK else None)
                    outcomes[status] = "won"
                except InvalidTransition:
                    outcomes[status] = "refused"

        threads = [threading.Thread(target=end, args=(status,)) for status in (X, OK)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        assert sorted(outcomes.values()) == ["refused", "won"], outcomes
        winner = next(status for status, outcome in outcomes.items() if outcome == "won")
        assert row(session, sweep.id)["status"] == winner
        assert [e[:2] for e in events(session, sweep.id)] == [(None, RUN), (RUN, winner)]


def test_migration_0007_records_the_history_existing_sweeps_show(fresh_url: str) -> None:
    upgrade(fresh_url, "0006")
    engine = make_engine(fresh_url)
    try:
        # Rows as the release before 0007 wrote them (plain SQL on the 0006 tables: today's models
        # have columns later migrations add): no events.
        tables = MetaData()
        tables.reflect(engine, only=["tenants", "sweeps"])
        tenants, sweeps = tables.tables["tenants"], tables.tables["sweeps"]
        sweep = {"tenant_id": "tnt_before_0007", "kind": "sweep", "request": {}, "total_trials": 1, "version": 1}
        with engine.begin() as connection:
            connection.execute(insert(tenants).values(
                id="tnt_before_0007", name="before-0007", created_at=1.0, max_concurrent_jobs=4, max_epochs=1000,
                max_run_time_s=3600, is_admin=False))
            connection.execute(insert(sweeps).values(id="swp_running", status="running", created_at=10.0, **sweep))
            connection.execute(insert(sweeps).values(id="swp_failed", status="failed", created_at=20.0,
                                                     error="no trial completed", finished_at=30.0, **sweep))
        upgrade(fresh_url)
        with make_session_factory(engine)() as session:
            history = {sweep_id: [(e.seq, e.from_status, e.to_status, e.at, e.reason)
                                  for e in store_sweeps.sweep_events(session, sweep_id)]
                       for sweep_id in ("swp_running", "swp_failed")}
    finally:
        engine.dispose()

    assert history == {
        "swp_running": [(1, None, RUN, 10.0, "created")],
        "swp_failed": [(1, None, RUN, 20.0, "created"), (2, RUN, FAIL, 30.0, "no trial completed")],
    }


def test_sweep_events_go_with_their_sweep(session: Session, tenant: Tenant) -> None:
    sweep = sweep_in(session, tenant, X)
    with write_transaction(session):
        session.delete(session.get(Sweep, sweep.id))

    assert session.scalars(select(SweepEvent).where(SweepEvent.sweep_id == sweep.id)).all() == []
