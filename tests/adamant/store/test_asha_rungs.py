"""ASHA as a trial's trainer applies it while writing evaluations (adamant.store.sweeps.judge_rungs)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from adamant import asha
from adamant.store import JobStatus, Tenant, get_job_any_tenant, job_events
from adamant.store import sweeps as store_sweeps
from adamant.store.exceptions import LeaseLost
from adamant.store.jobs import Lease, finish_job

from .conftest import running

BASE = {
    "task": "binary_classification",
    "dataset": {"ref": "builtin:bank-marketing", "target": "y"},
    "model": {"type": "logistic"},
    "training": {"epochs": 9},
}


def sweep_with_trials(session: Session, tenant: Tenant, n: int, early_stopping: dict | None = None) -> tuple[str, list[Lease]]:
    request = {"base": BASE, "space": {}, "early_stopping": early_stopping or {"type": "asha", "grace_epochs": 1, "reduction_factor": 3}}
    sweep = store_sweeps.create_sweep(session, tenant.id, kind="sweep", name="s", request=request, total_trials=n)
    leases = []
    for number in range(n):
        store_sweeps.record_trial(session, sweep.id, number, params={})
        lease = running(session, tenant)
        store_sweeps.update_trial(session, sweep.id, number, job_id=lease.job_id)
        leases.append(lease)
    return sweep.id, leases


def evaluation(epoch: float, auc: float) -> list[tuple[str, float, float | None]]:
    return [("val_loss", epoch, 0.3), ("val_auc", epoch, auc)]


def test_rungs_sit_at_grace_times_eta_powers_below_the_last_epoch() -> None:
    assert asha.rungs(1, 3, 9) == [1, 3]
    assert asha.rungs(2, 2, 20) == [2, 4, 8, 16]
    assert asha.rungs(5, 3, 5) == []


def test_the_objective_defaults_to_the_tasks_metric_and_losses_minimise() -> None:
    assert asha.objective(("val_auc", "max"), None, None) == ("val_auc", "max")
    assert asha.objective(("val_auc", "max"), "val_logloss", None) == ("val_logloss", "min")
    assert asha.objective(("val_rmse", "min"), "val_lift", "max") == ("val_lift", "max")


def test_a_trial_below_the_top_third_at_a_rung_is_stopped_there(session: Session, tenant: Tenant) -> None:
    sweep_id, (a, b, c) = sweep_with_trials(session, tenant, 3)
    assert store_sweeps.judge_rungs(session, a, evaluation(1.0, 0.80)) is None  # alone: the best
    assert store_sweeps.judge_rungs(session, b, evaluation(1.0, 0.85)) is None  # the new best
    assert store_sweeps.judge_rungs(session, c, evaluation(1.0, 0.70)) == 1  # 3 values, keeps 1: stopped

    job = get_job_any_tenant(session, c.job_id)
    assert job.status == JobStatus.CANCELLING and job.cancel_requested
    assert "stopped by ASHA at epoch 1" in (job_events(session, c.job_id)[-1].reason or "")
    trials = {t.number: t for t in store_sweeps.trials(session, sweep_id)}
    assert trials[2].stopped_at_epoch == 1.0 and trials[2].rungs == {"1": 0.70}
    assert trials[0].rungs == {"1": 0.80} and trials[0].stopped_at_epoch is None
    assert get_job_any_tenant(session, a.job_id).status == JobStatus.RUNNING


def test_a_trial_that_passes_two_rungs_in_one_write_is_judged_at_each(session: Session, tenant: Tenant) -> None:
    sweep_id, (a, b, c, d) = sweep_with_trials(session, tenant, 4)
    for lease, auc in ((a, 0.90), (b, 0.91), (c, 0.92)):
        store_sweeps.judge_rungs(session, lease, evaluation(1.0, auc) + evaluation(3.0, auc))
    # d is fine at rung 1 (it is the best) but last of four at rung 3: stopped at 3.
    assert store_sweeps.judge_rungs(session, d, evaluation(1.0, 0.95) + evaluation(2.0, 0.5) + evaluation(3.0, 0.5)) == 3
    trial = store_sweeps.trials(session, sweep_id)[3]
    assert trial.rungs == {"1": 0.95, "3": 0.5} and trial.stopped_at_epoch == 3.0


def test_a_rung_is_judged_once_on_the_first_evaluation_at_or_after_it(session: Session, tenant: Tenant) -> None:
    sweep_id, (a, b, c) = sweep_with_trials(session, tenant, 3)
    store_sweeps.judge_rungs(session, a, evaluation(1.0, 0.9))
    store_sweeps.judge_rungs(session, b, evaluation(1.0, 0.95))
    assert store_sweeps.judge_rungs(session, a, evaluation(1.0, 0.1)) is None  # a later write at the same epoch
    assert store_sweeps.trials(session, sweep_id)[0].rungs == {"1": 0.9}
    # c evaluates only at epoch 2 (every other epoch): that value stands for rung 1.
    assert store_sweeps.judge_rungs(session, c, evaluation(2.0, 0.2)) == 1
    assert store_sweeps.trials(session, sweep_id)[2].rungs == {"1": 0.2}


def test_plain_jobs_sweeps_without_asha_and_other_metrics_are_left_alone(session: Session, tenant: Tenant) -> None:
    plain = running(session, tenant)
    assert store_sweeps.judge_rungs(session, plain, evaluation(1.0, 0.1)) is None
    request = {"base": BASE, "space": {}}
    sweep = store_sweeps.create_sweep(session, tenant.id, kind="sweep", name="no asha", request=request, total_trials=1)
    store_sweeps.record_trial(session, sweep.id, 0, params={})
    lease = running(session, tenant)
    store_sweeps.update_trial(session, sweep.id, 0, job_id=lease.job_id)
    assert store_sweeps.judge_rungs(session, lease, evaluation(1.0, 0.1)) is None
    sweep_id, (a,) = sweep_with_trials(session, tenant, 1)
    assert store_sweeps.judge_rungs(session, a, [("val_loss", 1.0, 0.3)]) is None  # not the sweep's metric
    assert store_sweeps.trials(session, sweep_id)[0].rungs == {}
    for lease in (plain, a):
        assert get_job_any_tenant(session, lease.job_id).status == JobStatus.RUNNING


def test_a_trainer_that_lost_its_lease_cannot_stop_the_job(session: Session, tenant: Tenant) -> None:
    _, (a, b, c) = sweep_with_trials(session, tenant, 3)
    store_sweeps.judge_rungs(session, a, evaluation(1.0, 0.9))
    store_sweeps.judge_rungs(session, b, evaluation(1.0, 0.95))
    stale = Lease(c.job_id, c.token + 1, c.attempt, c.worker)
    with pytest.raises(LeaseLost):
        store_sweeps.judge_rungs(session, stale, evaluation(1.0, 0.1))
    assert get_job_any_tenant(session, c.job_id).status == JobStatus.RUNNING
    finish_job(session, c, "succeeded")
