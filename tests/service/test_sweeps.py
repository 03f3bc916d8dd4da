"""Sweeps with ASHA and optimizer comparisons, run for real by the service and a worker."""

from __future__ import annotations

import time

import pytest

from support.stack import Stack, wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BASE = {
    "task": "binary_classification",
    "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
    "model": {"type": "logistic"},  # seconds per trial: the suite runs 12 + 7 of them
    "training": {"epochs": 9, "batch_size": 256, "log_every_steps": 20},
    "checkpointing": {"every_epochs": 3, "keep_last": 1},
}


def wait_for_sweep(client, path: str, timeout: float = 600) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = client.get(path).json()
        if view["status"] != "running":
            return view
        time.sleep(1)
    raise AssertionError(f"{path} still running: {view['counts']}")


def test_an_asha_sweep_stops_a_third_early_and_beats_the_default(stack: Stack, tenant_key: str) -> None:
    if stack.kind != "embedded":
        pytest.skip("one stack is enough for a 12-trial sweep")
    request = {
        "name": "lr x beta2",
        "base": BASE,
        "space": {"optimizer.lr": {"type": "log_uniform", "low": 1e-5, "high": 1e-1},  # wide: bad trials to stop
                  "optimizer.beta2": {"type": "uniform", "low": 0.9, "high": 0.9999}},
        "method": "tpe",
        "trials": 12,
        "parallelism": 2,
        "early_stopping": {"type": "asha", "grace_epochs": 1, "reduction_factor": 3},
        "seed": 7,
    }
    with stack.client(tenant_key) as client:
        default = client.post("/v1/jobs", json=BASE).json()
        created = client.post("/v1/sweeps", json=request)
        assert created.status_code == 202, created.text
        sweep = wait_for_sweep(client, created.headers["Location"])
        baseline = wait_for_status(client, default["id"], {"succeeded"})["best_metrics"]["val_auc"]
        listed = client.get("/v1/sweeps").json()["items"]
    assert sweep["status"] == "succeeded", sweep
    assert sweep["total_trials"] == len(sweep["trials"]) == 12
    stopped = [t for t in sweep["trials"] if t["state"] == "pruned"]
    assert len(stopped) >= 4, [(t["state"], t["rungs"]) for t in sweep["trials"]]
    assert all(t["stopped_at_epoch"] in (1, 3) for t in stopped)
    assert sweep["best_trial"]["value"] >= baseline, (sweep["best_trial"], baseline)
    values = [t["value"] for t in sweep["leaderboard"]]
    assert values == sorted(values, reverse=True)
    assert [s["id"] for s in listed] == [sweep["id"]]


def test_a_comparison_tables_every_optimizer_and_overlays_curves(stack: Stack, tenant_key: str) -> None:
    if stack.kind != "embedded":
        pytest.skip("one stack is enough")
    request = {"name": "optimizers", "base": {**BASE, "training": {**BASE["training"], "epochs": 2}},
               "optimizers": ["adam", "adamw", "amsgrad", "sgd", "rmsprop", "adagrad", "adadelta"],
               "seeds": [0], "parallelism": 3, "target": {"metric": "val_auc", "value": 0.7}}
    with stack.client(tenant_key) as client:
        created = client.post("/v1/comparisons", json=request)
        assert created.status_code == 202, created.text
        done = wait_for_sweep(client, created.headers["Location"])
        curves = client.get(done["links"]["curves"]).json()
    assert done["status"] == "succeeded"
    table = {row["optimizer"]: row for row in done["table"]}
    assert set(table) == {"adam", "adamw", "amsgrad", "sgd", "rmsprop", "adagrad", "adadelta"}
    assert all(row["finished"] == 1 and row["best_val_auc"]["mean"] > 0.5 for row in table.values())
    assert "reached_target" in table["adam"]
    assert len(curves["curves"]) == 7 and all(len(c["points"]) == 2 for c in curves["curves"])


def test_cancelling_a_sweep_cancels_its_children(stack: Stack, tenant_key: str) -> None:
    if stack.kind != "embedded":
        pytest.skip("one stack is enough")
    request = {"base": {**BASE, "resources": {"device": "cuda"}},  # children wait for a GPU worker
               "space": {"optimizer.lr": {"type": "choice", "values": [1e-3, 1e-2]}}, "method": "grid", "parallelism": 2}
    with stack.client(tenant_key) as client:
        sweep = client.post("/v1/sweeps", json=request).json()
        jobs = [t["job_id"] for t in sweep["trials"]]
        cancelled = client.post(f"/v1/sweeps/{sweep['id']}/cancel").json()
        states = [client.get(f"/v1/jobs/{j}").json()["status"] for j in jobs]
    assert len(jobs) == 2 and cancelled["status"] == "cancelled"
    assert states == ["cancelled", "cancelled"]
