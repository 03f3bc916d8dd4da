"""What a sweep request may ask for, checked at the edge without running a trial.

Issue 10, item 1: a grid's combinations were built as a list in the request thread (5 paths x 20
values: 5.3 s and +0.8 GB; the limits allowed 10^20) and again by every controller step. Now
they are counted, refused over the sweep's trials with a 422 naming `space`, and computed
one at a time from their number. Item 6: a sweep whose trials the service refuses stayed
`running`, retried every 2 s forever; its base spec is now checked before it exists. And a
sweep's status changes only as its table allows, each change in its `history`; a controller
step that outlasts a cancel is refused and lets go.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from adamant.settings import Settings
from service.sweeps.requests import SweepRequest
from service.sweeps.search import grid_point, total_trials

ADMIN_KEY = "sweep-requests-admin-key-0123456789"
BASE = {"task": "binary_classification", "dataset": {"ref": "builtin:bank-marketing", "target": "y"},
        "model": {"type": "logistic"}, "training": {"epochs": 2}}
PATHS = ["optimizer.lr", "optimizer.beta1", "optimizer.beta2", "optimizer.eps", "optimizer.weight_decay",
         "training.batch_size", "model.dropout", "schedule.warmup_epochs", "optimizer.amsgrad", "schedule.type"]


def grid_of(paths: int, values: int) -> dict:
    return {path: {"type": "choice", "values": [0.5 + i / 1000 for i in range(values)]} for path in PATHS[:paths]}


def test_the_nth_grid_combination_is_itertools_products_nth() -> None:
    space = {"optimizer.lr": [1e-3, 1e-2], "optimizer.beta2": [0.9, 0.99, 0.999], "training.batch_size": [32, 64, 128, 256]}
    request = SweepRequest(base=BASE, method="grid", space={p: {"type": "choice", "values": v} for p, v in space.items()})
    names = sorted(space)
    expected = [dict(zip(names, combo)) for combo in itertools.product(*(space[n] for n in names))]
    assert total_trials(request) == request.trials == 24  # trials left out: the whole grid
    assert [grid_point(request, n) for n in range(24)] == expected
    with pytest.raises(IndexError):
        grid_point(request, 24)


def test_a_grid_with_more_combinations_than_trials_is_refused_naming_space() -> None:
    with pytest.raises(ValidationError) as refused:
        SweepRequest(base=BASE, method="grid", trials=12, space=grid_of(2, 4))
    [error] = refused.value.errors()
    assert error["loc"] == ("space",) and error["type"] == "grid_too_large"
    assert error["msg"] == "the grid has 16 combinations, more than trials (12): set trials to 16 or list fewer values"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[TestClient]:
    from service.app import create_app

    settings = Settings(home=tmp_path, admin_key=ADMIN_KEY, local_user=False)
    with TestClient(create_app(settings, run_sweeps=False)) as client:
        yield client


def tenant_key(service: TestClient, **limits: object) -> str:
    reply = service.post("/v1/tenants", json={"name": "sweeper", **limits}, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert reply.status_code == 201, reply.text
    return reply.json()["api_key"]


@pytest.mark.parametrize(("paths", "values", "combinations"), [(5, 20, "3200000"), (10, 100, "1" + "0" * 20)])
def test_a_huge_grid_is_refused_within_a_second_naming_space_and_the_count(
        service: TestClient, paths: int, values: int, combinations: str) -> None:
    headers = {"Authorization": f"Bearer {tenant_key(service)}"}
    assert service.get("/v1/sweeps", headers=headers).status_code == 200  # the key's check is not what is timed
    started = time.perf_counter()
    reply = service.post("/v1/sweeps", json={"base": BASE, "method": "grid", "space": grid_of(paths, values)}, headers=headers)
    elapsed = time.perf_counter() - started
    assert reply.status_code == 422, reply.text
    assert [e["path"] for e in reply.json()["errors"]] == ["space"]
    assert f"the grid has {combinations} combinations, more than the 200 trials a sweep may run" in reply.json()["detail"]
    assert elapsed < 1.0, f"{elapsed:.2f} s to refuse"


def test_a_grid_sweep_submits_its_combinations_in_order(service: TestClient) -> None:
    key = tenant_key(service, max_concurrent_jobs=10)
    space = {"optimizer.lr": {"type": "choice", "values": [1e-3, 1e-2]}, "optimizer.beta1": {"type": "choice", "values": [0.8, 0.9]}}
    reply = service.post("/v1/sweeps", json={"base": BASE, "method": "grid", "space": space, "parallelism": 4},
                         headers={"Authorization": f"Bearer {key}"})
    assert reply.status_code == 202, reply.text
    sweep = reply.json()
    assert sweep["total_trials"] == 4
    assert [t["params"] for t in sweep["trials"]] == [
        {"optimizer.beta1": b1, "optimizer.lr": lr} for b1, lr in itertools.product([0.8, 0.9], [1e-3, 1e-2])]


@pytest.mark.parametrize("kind", ["sweeps", "comparisons"])
def test_a_base_spec_over_the_tenants_limits_is_refused_before_the_sweep_exists(service: TestClient, kind: str) -> None:
    key = tenant_key(service, max_epochs=1)
    body = {"base": BASE, "space": {"optimizer.lr": {"type": "log_uniform", "low": 1e-4, "high": 1e-1}}}
    if kind == "comparisons":
        body = {"base": BASE, "optimizers": ["adam", "sgd"]}
    headers = {"Authorization": f"Bearer {key}"}
    reply = service.post(f"/v1/{kind}", json=body, headers=headers)
    assert reply.status_code == 422, reply.text
    assert reply.json()["errors"] == [{"path": "base.training.epochs", "message": "at most 1 epochs for this tenant"}]
    assert service.get(f"/v1/{kind}", headers=headers).json()["items"] == []


def step(service: TestClient, sweep_id: str) -> None:
    """One controller step, as the service's background loop takes it (run_sweeps=False here)."""
    from service.sweeps import controller

    state = service.app.state
    controller.advance(state.sessions, state.celery, state.settings, sweep_id)


def test_a_trial_refused_mid_sweep_fails_the_sweep_with_the_reason(service: TestClient) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    tenant = service.post("/v1/tenants", json={"name": "refused", "max_concurrent_jobs": 10}, headers=admin).json()
    headers = {"Authorization": f"Bearer {tenant['api_key']}"}
    space = {"optimizer.lr": {"type": "choice", "values": [1e-3, 1e-2, 1e-1]}}
    sweep = service.post("/v1/sweeps", json={"base": BASE, "method": "grid", "space": space, "parallelism": 1},
                         headers=headers).json()
    first_job = sweep["trials"][0]["job_id"]
    assert service.patch(f"/v1/tenants/{tenant['tenant_id']}", json={"max_epochs": 1}, headers=admin).status_code == 200
    assert service.post(f"/v1/jobs/{first_job}/cancel", headers=headers).json()["status"] == "cancelled"

    step(service, sweep["id"])  # trial 1 is submitted now: its 2 epochs are over the tenant's new limit
    view = service.get(f"/v1/sweeps/{sweep['id']}", headers=headers).json()
    assert view["status"] == "failed"
    assert "trial 1 was refused" in view["error"] and "epochs" in view["error"], view["error"]
    assert [t["state"] for t in view["trials"]] == ["cancelled", "failed"]
    step(service, sweep["id"])  # a failed sweep is not stepped again: no third trial
    assert len(service.get(f"/v1/sweeps/{sweep['id']}", headers=headers).json()["trials"]) == 2


def test_a_trial_held_back_by_the_concurrency_limit_waits_and_the_sweep_keeps_running(service: TestClient) -> None:
    key = tenant_key(service, max_concurrent_jobs=1)
    headers = {"Authorization": f"Bearer {key}"}
    space = {"optimizer.lr": {"type": "choice", "values": [1e-3, 1e-2]}}
    sweep = service.post("/v1/sweeps", json={"base": BASE, "method": "grid", "space": space, "parallelism": 2},
                         headers=headers).json()
    for _ in range(3):
        step(service, sweep["id"])
    view = service.get(f"/v1/sweeps/{sweep['id']}", headers=headers).json()
    assert view["status"] == "running" and view["error"] is None
    assert [t["state"] for t in view["trials"]] in (["running"], ["running", "running"])
    assert sum(t["job_id"] is not None for t in view["trials"]) == 1  # the second waits for the first to end
    service.post(f"/v1/jobs/{view['trials'][0]['job_id']}/cancel", headers=headers)
    step(service, sweep["id"])
    view = service.get(f"/v1/sweeps/{sweep['id']}", headers=headers).json()
    assert view["status"] == "running" and view["trials"][1]["job_id"] is not None


def test_a_sweep_stored_before_a_rule_it_breaks_is_readable_and_fails_once(service: TestClient) -> None:
    """A row written by an older release (an Infinity stored as null) made every GET a 500."""
    from sqlalchemy import update

    from adamant.store.models import Sweep

    headers = {"Authorization": f"Bearer {tenant_key(service, max_concurrent_jobs=10)}"}
    body = {"base": BASE, "space": {"optimizer.lr": {"type": "log_uniform", "low": 1e-4, "high": 1e-1}}, "trials": 3}
    sweep = service.post("/v1/sweeps", json=body, headers=headers).json()
    stored = {**body, "space": {"optimizer.lr": {"type": "log_uniform", "low": 1e-4, "high": None}}}
    with service.app.state.sessions() as session, session.begin():
        session.execute(update(Sweep).where(Sweep.id == sweep["id"]).values(request=stored))

    view = service.get(f"/v1/sweeps/{sweep['id']}", headers=headers)
    assert view.status_code == 200, view.text
    assert "no longer validates: space.optimizer.lr.log_uniform.high" in view.json()["error"]
    assert service.get("/v1/sweeps", headers=headers).status_code == 200
    step(service, sweep["id"])
    view = service.get(f"/v1/sweeps/{sweep['id']}", headers=headers).json()
    assert view["status"] == "failed" and "no longer validates" in view["error"]
    assert {t["state"] for t in view["trials"]} == {"cancelled"}  # its queued children stopped with it
    assert service.post(f"/v1/sweeps/{sweep['id']}/cancel", headers=headers).status_code in (200, 202, 409)


def finish_as_worker(service: TestClient, job_id: str, metric: str, value: float) -> None:
    """Play the worker's part through the store: claim the job and finish it with its metric."""
    from adamant.store import jobs as store_jobs

    with service.app.state.sessions() as session:
        lease = store_jobs.claim_job(session, job_id, "test-worker", ttl_s=30)
        assert lease is not None
        store_jobs.finish_job(session, lease, "succeeded", best_metrics={metric: value})


def grid_sweep(service: TestClient, headers: dict[str, str]) -> dict:
    space = {"optimizer.lr": {"type": "choice", "values": [1e-3, 1e-2]}}
    reply = service.post("/v1/sweeps", json={"base": BASE, "method": "grid", "space": space, "parallelism": 2}, headers=headers)
    assert reply.status_code == 202, reply.text
    return reply.json()


def test_a_sweep_shows_its_status_history(service: TestClient) -> None:
    headers = {"Authorization": f"Bearer {tenant_key(service, max_concurrent_jobs=10)}"}
    sweep = grid_sweep(service, headers)
    assert [(e["from_status"], e["to_status"], e["reason"]) for e in sweep["history"]] == [(None, "running", "created")]
    for value, trial in zip((0.7, 0.8), sweep["trials"], strict=True):
        finish_as_worker(service, trial["job_id"], sweep["metric"], value)

    step(service, sweep["id"])
    view = service.get(f"/v1/sweeps/{sweep['id']}", headers=headers).json()

    assert view["status"] == "succeeded"
    assert [(e["from_status"], e["to_status"]) for e in view["history"]] == [(None, "running"), ("running", "succeeded")]
    assert view["history"][1]["at"] == view["finished_at"] and "trial" in view["history"][1]["reason"]
    assert "history" not in service.get("/v1/sweeps", headers=headers).json()["items"][0]  # the list stays one query a row
    refused = service.post(f"/v1/sweeps/{sweep['id']}/cancel", headers=headers)  # the controller came first: it wins
    assert refused.status_code == 409 and f"sweep {sweep['id']} is succeeded" in refused.json()["detail"]
    assert len(service.get(f"/v1/sweeps/{sweep['id']}", headers=headers).json()["history"]) == 2


def test_a_comparison_shows_its_status_history(service: TestClient) -> None:
    headers = {"Authorization": f"Bearer {tenant_key(service, max_concurrent_jobs=10)}"}
    comparison = service.post("/v1/comparisons", json={"base": BASE, "optimizers": ["adam", "sgd"]}, headers=headers).json()
    cancelled = service.post(f"/v1/comparisons/{comparison['id']}/cancel", headers=headers).json()

    assert cancelled["status"] == "cancelled"
    assert [(e["from_status"], e["to_status"], e["reason"]) for e in cancelled["history"]] == [
        (None, "running", "created"), ("running", "cancelled", "cancelled by the user")]
    assert service.get(f"/v1/comparisons/{comparison['id']}", headers=headers).json()["history"] == cancelled["history"]


def test_a_controller_step_that_outlasts_a_cancel_leaves_the_sweep_cancelled(service: TestClient) -> None:
    """The cancel waits for a step in progress, but not forever: when the step goes on after it,
    its moves are refused (the cancel came first) and it ends without an error."""
    from adamant.store import sweeps as store_sweeps
    from adamant.store.models import Sweep
    from service.sweeps import controller

    key = tenant_key(service, max_concurrent_jobs=10)
    headers = {"Authorization": f"Bearer {key}"}
    sweep = grid_sweep(service, headers)
    for value, trial in zip((0.7, 0.8), sweep["trials"], strict=True):
        finish_as_worker(service, trial["job_id"], sweep["metric"], value)
    state = service.app.state
    with state.sessions() as session:
        assert store_sweeps.take_controller(session, sweep["id"], 60)  # a step begins: it reads the sweep running
        stale = session.get(Sweep, sweep["id"])
        tenant_id = stale.tenant_id
        with state.sessions() as other:  # the user's cancel gives up waiting for the step, and cancels
            assert controller.cancel(other, tenant_id, sweep["id"], wait_s=0.1).status == "cancelled"
        controller._step(session, state.celery, state.settings, stale)  # the step goes on: every trial has ended

    view = service.get(f"/v1/sweeps/{sweep['id']}", headers=headers).json()
    assert view["status"] == "cancelled" and view["error"] is None
    assert [t["state"] for t in view["trials"]] == ["cancelled", "cancelled"]
    assert [e["to_status"] for e in view["history"]] == ["running", "cancelled"]
