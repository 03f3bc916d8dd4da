"""Sweeps with ASHA and optimizer comparisons, run for real by the service and a worker."""

from __future__ import annotations

import statistics
import time

import pytest

from support.stack import Stack, wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The sweep machinery is the same on both stacks: these run on the embedded one only. A direct
# parametrisation of the session fixture takes precedence over its params (pytest's documented
# override), so the cluster variant is never generated rather than generated and skipped.
ONE_STACK = pytest.mark.parametrize("stack", ["embedded"], indirect=True)

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


@ONE_STACK
def test_an_asha_sweep_stops_a_third_early_and_beats_the_default(stack: Stack, tenant_key: str) -> None:
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


@ONE_STACK
def test_a_comparison_tables_every_optimizer_over_its_seeds_and_overlays_curves(stack: Stack, tenant_key: str) -> None:
    optimizers = ["adam", "adamw", "amsgrad", "sgd", "rmsprop", "adagrad", "adadelta"]
    request = {"name": "optimizers", "base": {**BASE, "training": {**BASE["training"], "epochs": 2}},
               "optimizers": optimizers, "seeds": [0, 1], "parallelism": 3, "target": {"metric": "val_auc", "value": 0.7}}
    with stack.client(tenant_key) as client:
        created = client.post("/v1/comparisons", json=request)
        assert created.status_code == 202, created.text
        done = wait_for_sweep(client, created.headers["Location"])
        curves = client.get(done["links"]["curves"]).json()
        runs: dict[str, list[dict]] = {}
        for trial in done["trials"]:
            runs.setdefault(trial["label"], []).append(client.get(f"/v1/jobs/{trial['job_id']}").json())
        adam_points = {
            trial["job_id"]: client.get(f"/v1/jobs/{trial['job_id']}/metrics", params={"names": "val_auc"}).json()
            for trial in done["trials"] if trial["label"] == "adam"
        }
    assert done["status"] == "succeeded", done["error"]
    table = {row["optimizer"]: row for row in done["table"]}
    assert set(table) == set(optimizers)
    for name, row in table.items():  # the table's mean and spread are the runs' own numbers
        best = [job["best_metrics"]["val_auc"] for job in runs[name]]
        assert row["runs"] == row["finished"] == 2 and len(best) == 2
        assert row["best_val_auc"]["mean"] == pytest.approx(statistics.fmean(best))
        assert row["best_val_auc"]["std"] == pytest.approx(statistics.stdev(best))
        assert row["best_val_auc"]["mean"] > 0.5, (name, row["hyperparameters"])
    assert table["adadelta"]["hyperparameters"]["eps"] == 1e-6  # torch's own default, said in the table
    assert table["rmsprop"]["hyperparameters"]["lr"] == 1e-2
    adam = table["adam"]  # time to target: the first evaluation at or past 0.7, from each run's own curve
    first_hits = [next(p["epoch"] for p in points["points"] if p["value"] >= 0.7) for points in adam_points.values()]
    assert adam["reached_target"] == 2
    assert adam["epochs_to_target"]["mean"] == pytest.approx(statistics.fmean(first_hits))
    assert 0 <= adam["seconds_to_target"]["mean"] <= adam["train_seconds"]["mean"]
    assert len(curves["curves"]) == 14 and all(len(c["points"]) == 2 for c in curves["curves"])


@ONE_STACK
def test_cancelling_a_sweep_cancels_its_children(stack: Stack, tenant_key: str) -> None:
    request = {"base": {**BASE, "resources": {"device": "cuda"}},  # children wait for a GPU worker
               "space": {"optimizer.lr": {"type": "choice", "values": [1e-3, 1e-2]}}, "method": "grid", "parallelism": 2}
    with stack.client(tenant_key) as client:
        sweep = client.post("/v1/sweeps", json=request).json()
        jobs = [t["job_id"] for t in sweep["trials"]]
        cancelled = client.post(f"/v1/sweeps/{sweep['id']}/cancel").json()
        states = [client.get(f"/v1/jobs/{j}").json()["status"] for j in jobs]
    assert len(jobs) == 2 and cancelled["status"] == "cancelled"
    assert states == ["cancelled", "cancelled"]
