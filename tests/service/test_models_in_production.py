"""Models in production, end to end on PostgreSQL + Redis + a Celery worker + two API processes:
train bank-marketing, register it, alias `production`, schedule a nightly scoring of a shifted
table (customers aged 50 and over only), drive the clock to the tick, and watch the policy act:
a significant drift verdict, a retraining job, the challenger and the champion scored on the
same held-out rows, the alias moved or not as the comparison says. A local HTTP receiver checks
every webhook's signature; both API processes sweep, and each tick fires once."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sqlalchemy import text

from adamant.datasets.catalogue import BANK_MARKETING_FILE
from adamant.store.db import make_engine
from service.webhook_sender import verify
from support.stack import Stack, drop_pg_database, job_report, make_stack, postgres_available, redis_available
from support.webhook_receiver import Receiver, webhook_receiver

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FINAL = {"stable", "promoted", "candidate", "failed", "awaiting_approval"}
SPEC = {
    "name": "churn v1",
    "task": "binary_classification",
    "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"], "validation": {"fraction": 0.2, "seed": 0}},
    "model": {"type": "logistic"},
    "training": {"epochs": 2, "batch_size": 1024, "seed": 0},
    "resources": {"device": "cpu"},
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not (postgres_available() and redis_available()):
        pytest.skip("needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (scripts/test.sh starts them)")
    stack = make_stack("cluster", tmp_path_factory.mktemp("production"), ADAMANT_WEBHOOK_ALLOW_PRIVATE="true")
    try:
        stack.start_api(workers=2)  # two API processes, each running the schedule and monitoring loop
        stack.start_worker(queues="cpu", concurrency=2)
        yield stack
    finally:
        stack.stop_all()
        if stack.database_url:
            drop_pg_database(stack.database_url)


def wait_for(client: httpx.Client, path: str, done, stack: Stack, timeout: float = 240) -> Any:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(path).json()
        if done(body):
            return body
        time.sleep(0.5)
    raise AssertionError(f"{path} not done in {timeout}s: {body}\n{stack.log_tail('api')}\n{stack.log_tail('worker')}")


def drive_clock_to_tick(stack: Stack, schedule_id: str) -> None:
    """The clock reaches the schedule's tick: its next_run_at is now in the past (by a day, as if
    the service had been down across it: it still fires once)."""
    with make_engine(str(stack.database_url)).begin() as connection:
        connection.execute(text("UPDATE schedules SET next_run_at = next_run_at - 2 * 86400 WHERE id = :id"), {"id": schedule_id})


def shifted_table(stack: Stack) -> tuple[str, pd.DataFrame]:
    """Bank-marketing's customers aged 50 and over: the population moved."""
    frame = pd.read_csv(BANK_MARKETING_FILE, sep=";")
    older = frame[frame["age"] >= 50]
    path = Path(stack.env["ADAMANT_FILE_ROOTS"]) / "older.csv"
    older.to_csv(path, index=False)
    return f"file:{path}", older


def test_a_drifted_nightly_scoring_retrains_compares_and_promotes_as_the_policy_says(cluster: Stack) -> None:
    with cluster.client() as admin:
        key = admin.post("/v1/tenants", json={"name": "production", "max_concurrent_jobs": 10}).json()["api_key"]
    with webhook_receiver() as receiver, cluster.client(key) as client:
        hook = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["*"]})
        assert hook.status_code == 201, hook.text
        secret = hook.json()["secret"]

        job = client.post("/v1/jobs", json=SPEC).json()
        trained = wait_for(client, f"/v1/jobs/{job['id']}", lambda j: j["status"] in ("succeeded", "failed"), cluster)
        assert trained["status"] == "succeeded", job_report(client, job["id"], stack=cluster)
        assert client.post("/v1/models", json={"name": "churn", "task": "binary_classification"}).status_code == 201
        assert client.post("/v1/models/churn/versions", json={"job_id": job["id"]}).json()["version"] == 1
        assert client.put("/v1/models/churn/aliases/production", json={"version": 1}).status_code == 200

        older, table = shifted_table(cluster)
        policy = client.put("/v1/models/churn/policy", json={"retrain_on": "retrain recommended", "margin": 0.0})
        assert policy.status_code == 200, policy.text
        schedule = client.post("/v1/models/churn/schedules", json={"cron": "0 2 * * *", "timezone": "Europe/Paris",
                                                                    "dataset": {"ref": older}}).json()
        assert schedule["next_run_at"] and schedule["runs"] == 0

        drive_clock_to_tick(cluster, schedule["id"])
        run = wait_for(client, "/v1/models/churn/monitor-runs", lambda runs: runs and runs[0]["state"] in FINAL, cluster)[0]
        run = decided(client, run, cluster)
        check_the_run(client, run, table)
        check_webhooks(receiver, secret, run)

        # the next tick: both API processes sweep, it fires once; a policy that never retrains stops at the verdict
        client.put("/v1/models/churn/policy", json={"retrain_on": "never"})
        drive_clock_to_tick(cluster, schedule["id"])
        runs = wait_for(client, "/v1/models/churn/monitor-runs", lambda runs: len(runs) >= 2 and runs[0]["state"] in FINAL, cluster)
        time.sleep(3)  # a second firing of the same tick would show by now (the loops sweep every second)
        runs = client.get("/v1/models/churn/monitor-runs").json()
        assert [r["state"] for r in runs] == ["stable", run["state"]]
        (listed,) = client.get("/v1/models/churn/schedules").json()
        assert listed["runs"] == 2 and listed["last_run_id"] == runs[0]["id"]


def decided(client: httpx.Client, run: dict[str, Any], stack: Stack) -> dict[str, Any]:
    assert run["state"] != "failed", f"{run}\n{stack.log_tail('api')}"
    return run


def check_the_run(client: httpx.Client, run: dict[str, Any], table: pd.DataFrame) -> None:
    assert run["verdict"] == "retrain recommended", run["findings"]
    assert "age" in run["findings"]["drift"]["drifted"]
    retrain = client.get(f"/v1/jobs/{run['retrain_job_id']}").json()
    assert retrain["status"] == "succeeded" and retrain["spec"]["dataset"]["ref"] == run["findings"]["dataset"]["ref"]

    # the champion and the challenger were scored on the same held-out rows of the retraining's table
    reports = {role: client.get(f"/v1/jobs/{job_id}/report").json() for role, job_id in run["comparison_jobs"].items()}
    assert {r["dataset"]["holdout_of"] for r in reports.values()} == {run["retrain_job_id"]}
    rows = {r["evaluation"]["labelled_rows"] for r in reports.values()}
    assert len(rows) == 1 and abs(rows.pop() - 0.2 * len(table)) <= 2  # its 20% validation rows
    elsewhere = client.post(f"/v1/jobs/{run['retrain_job_id']}/predictions",
                            json={"dataset": {"ref": "builtin:bank-marketing"}, "holdout_of": run["retrain_job_id"]})
    assert elsewhere.status_code == 422 and elsewhere.json()["errors"][0]["path"] == "holdout_of"  # not the table it split
    comparison = run["comparison"]
    for role in ("champion", "challenger"):
        scored = client.get(f"/v1/jobs/{run['comparison_jobs'][role]}").json()
        assert comparison[role] == pytest.approx(scored["result"]["evaluation"]["auc"])
    assert comparison["champion"] != comparison["challenger"]  # two models, not one scored twice

    model = client.get("/v1/models/churn").json()
    assert [v["version"] for v in model["versions"]] == [1, 2] and run["challenger_version"] == 2
    older_csv = Path(run["findings"]["dataset"]["ref"].removeprefix("file:"))
    assert model["versions"][1]["dataset_sha256"] == hashlib.sha256(older_csv.read_bytes()).hexdigest()  # the bytes read
    assert model["versions"][0]["dataset_sha256"]  # a built-in table: the sha256 of its files' identity
    wins = comparison["challenger"] - comparison["champion"] > comparison["margin"]
    assert run["state"] == ("promoted" if wins else "candidate")
    assert model["aliases"]["production"] == (2 if wins else 1)
    if wins:
        (move, *_) = client.get("/v1/models/churn/aliases/history").json()
        assert (move["from_version"], move["to_version"], move["actor"]) == (1, 2, "policy")
    row = json.loads(table.drop(columns=["y"]).head(1).to_json(orient="records"))
    served = client.post("/v1/models/churn/predict", json={"rows": row}).json()
    assert served["version"] == model["aliases"]["production"]


def check_webhooks(receiver: Receiver, secret: str, run: dict[str, Any]) -> None:
    deadline = time.monotonic() + 30
    while not receiver.events("model.decision") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert receiver.requests and all(verify(secret, r.headers["Adamant-Signature"], r.body) for r in receiver.requests)
    finished = {r.json["job"]["id"] for r in receiver.events("job.finished")}
    assert {run["scoring_job_id"], run["retrain_job_id"], *run["comparison_jobs"].values()} <= finished
    (drift,) = [r.json for r in receiver.events("model.drift")]
    assert (drift["verdict"], drift["retrain"], drift["run_id"]) == ("retrain recommended", True, run["id"])
    (decision,) = [r.json for r in receiver.events("model.decision")]
    assert (decision["state"], decision["challenger_version"]) == (run["state"], 2)
    moves = [(r.json["from_version"], r.json["to_version"]) for r in receiver.events("model.alias_moved")]
    assert moves == ([(None, 1), (1, 2)] if run["state"] == "promoted" else [(None, 1)])
    assert len({r.headers["Adamant-Delivery"] for r in receiver.requests}) == len(receiver.requests)  # each sent once
