"""The models page in a real Chromium against a live stack: a model "churn" with two versions
(the production alias moved from v1 to v2), a policy that never retrains (a run ends at its
verdict), monitoring runs on the training table and on a shifted one (customers aged 50 and
over), a nightly schedule. The page lists the model, shows its versions, aliases, metrics per
version, drift over time, runs, schedules, policy and alias history; it follows a run that
starts while it is open, pauses the schedule, rolls the alias back and shows the 409 when the
alias moved meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from adamant.datasets.catalogue import BANK_MARKETING_FILE
from support.browser import PHONE, SCREENSHOTS, close, open_page
from support.stack import Stack, create_tenant, job_report

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FINAL = {"stable", "promoted", "candidate", "awaiting_approval", "failed"}
SPEC = {
    "task": "binary_classification",
    "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
    "model": {"type": "logistic"},
    "training": {"epochs": 1, "batch_size": 2048, "seed": 0},
    "resources": {"device": "cpu"},
}
# v1 sees a few customer columns; v2 every column but duration (a better AUC, so the chart moves)
V1_FEATURES = ["age", "job", "marital", "education", "campaign"]






def wait_for(client: httpx.Client, path: str, done, stack: Stack, timeout: float = 90) -> Any:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(path).json()
        if done(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} not done in {timeout}s: {body}\n{stack.log_tail('api')}\n{stack.log_tail('worker')}")
        time.sleep(0.3)


def train(client: httpx.Client, stack: Stack, name: str, **dataset: Any) -> str:
    spec = {**SPEC, "name": name, "dataset": {**SPEC["dataset"], **dataset}}
    reply = client.post("/v1/jobs", json=spec)
    assert reply.status_code == 202, reply.text
    return reply.json()["id"]


def start_run(client: httpx.Client, ref: str) -> dict[str, Any]:
    reply = client.post("/v1/models/churn/monitor-runs", json={"dataset": {"ref": ref}})
    assert reply.status_code == 202, reply.text
    return reply.json()


def finished_run(client: httpx.Client, stack: Stack, run_id: str) -> dict[str, Any]:
    run = wait_for(client, f"/v1/models/churn/monitor-runs/{run_id}", lambda r: r["state"] in FINAL, stack)
    assert run["state"] == "stable", run  # the policy never retrains
    return run


@pytest.fixture(scope="module")
def churn(stack: Stack) -> Iterator[dict[str, Any]]:
    """The model, set up through the API; two finished runs (the training table, the shifted one)."""
    key = create_tenant(stack, "models")
    with stack.client(key) as client:
        jobs = [train(client, stack, "churn v1", features=V1_FEATURES), train(client, stack, "churn v2")]
        for job_id in jobs:
            job = wait_for(client, f"/v1/jobs/{job_id}", lambda j: j["status"] in ("succeeded", "failed", "cancelled"), stack)
            assert job["status"] == "succeeded", job_report(client, job_id, stack=stack)
        assert client.post("/v1/models", json={"name": "churn", "task": "binary_classification",
                                                "description": "who answers the term-deposit call"}).status_code == 201
        for job_id in jobs:
            assert client.post("/v1/models/churn/versions", json={"job_id": job_id}).status_code == 201
        assert client.put("/v1/models/churn/aliases/production", json={"version": 1}).status_code == 200
        moved = client.put("/v1/models/churn/aliases/production", json={"version": 2, "expected_version": 1, "reason": "better AUC"})
        assert moved.status_code == 200, moved.text
        assert client.put("/v1/models/churn/policy", json={"retrain_on": "never"}).status_code == 200

        frame = pd.read_csv(BANK_MARKETING_FILE, sep=";")
        older = Path(stack.env["ADAMANT_FILE_ROOTS"]) / "older.csv"
        frame[frame["age"] >= 50].to_csv(older, index=False)
        milder = Path(stack.env["ADAMANT_FILE_ROOTS"]) / "over-40.csv"  # the run started while the page is open
        frame[frame["age"] >= 40].to_csv(milder, index=False)
        schedule = client.post("/v1/models/churn/schedules", json={
            "cron": "0 2 * * *", "timezone": "Europe/Paris", "dataset": {"ref": "builtin:bank-marketing"}})
        assert schedule.status_code == 201, schedule.text
        # one after the other, so they lie apart on the drift chart's time axis
        runs = [finished_run(client, stack, start_run(client, ref)["id"]) for ref in ("builtin:bank-marketing", f"file:{older}")]
        yield {"key": key, "jobs": jobs, "older": f"file:{older}", "milder": f"file:{milder}", "runs": runs,
               "schedule": schedule.json()}


def test_the_models_page_shows_versions_aliases_charts_runs_and_schedules(browser, stack: Stack, churn) -> None:  # type: ignore[no-untyped-def]
    with stack.client(churn["key"]) as client:
        model = client.get("/v1/models/churn").json()
        page = open_page(browser, stack, churn["key"], "#/models", poll_scale=0.1)
        row = page.locator('.models-table tr[data-model="churn"]')
        row.wait_for()
        assert row.locator('.badge[data-alias="production"]').inner_text() == "production → v2"
        assert page.locator(".nav a[aria-current]").inner_text() == "Models"
        assert page.locator(f'.schedules-table tr[data-schedule="{churn["schedule"]["id"]}"]').is_visible()  # every schedule, with its model

        row.get_by_role("link", name="churn").click()
        page.wait_for_url("**/#/models/churn")
        versions = page.locator(".versions-table tbody tr")
        versions.first.wait_for()
        assert [versions.nth(i).get_attribute("data-version") for i in range(versions.count())] == ["2", "1"]  # newest first
        for version in model["versions"]:
            shown = page.locator(f'.versions-table tr[data-version="{version["version"]}"]')
            assert shown.locator(f'a[href="#/jobs/{version["job_id"]}"]').count() == 1
            auc = shown.locator('td[data-label="val_auc"]').inner_text()
            assert float(auc) == pytest.approx(version["metrics"]["val_auc"], abs=1e-4)
        assert page.locator('.versions-table tr[data-version="2"] .badge[data-alias="production"]').count() == 1
        assert page.locator('.versions-table tr[data-version="1"] .badge[data-alias]').count() == 0
        assert page.locator('.model-aliases .badge[data-alias="production"]').inner_text() == "production → v2"

        metrics = page.locator('#version-metrics figure[data-chart="versions"]')
        metrics.locator("canvas").wait_for()
        assert metrics.get_attribute("data-metric") == "val_auc" and metrics.get_attribute("data-points") == "2"

        # a run started while the page is open: the page follows it to its verdict
        live = start_run(client, churn["milder"])
        page.locator(f'.runs-table tr[data-run="{live["id"]}"]').wait_for(timeout=10_000)
        page.locator(f'.runs-table tr[data-run="{live["id"]}"][data-state="stable"]').wait_for(timeout=60_000)
        runs = client.get("/v1/models/churn/monitor-runs").json()
        assert len(runs) == 3 and {r["state"] for r in runs} == {"stable"}
        table = page.locator(".runs-table tbody tr")
        assert [table.nth(i).get_attribute("data-run") for i in range(table.count())] == [r["id"] for r in runs]  # newest first
        for run in runs:
            shown = page.locator(f'.runs-table tr[data-run="{run["id"]}"]')
            assert shown.locator('.badge[data-status="stable"]').count() == 1
            assert shown.locator(f'.badge[data-verdict="{run["verdict"]}"]').count() == 1
            drifted = run["findings"]["drift"]["drifted"]
            assert shown.locator('td[data-label="Drifted columns"]').inner_text() == (", ".join(drifted) or "–")
            assert shown.locator(f'a[href="#/jobs/{run["scoring_job_id"]}"]').count() == 1
            assert run["decision"] in shown.locator('td[data-label="Decision"]').inner_text()
        (shifted,) = [r for r in runs if r["findings"]["dataset"]["ref"] == churn["older"]]
        assert shifted["verdict"] == "retrain recommended" and "age" in shifted["findings"]["drift"]["drifted"]
        assert runs[-1]["verdict"] == "stable"  # the training table itself: drift differs

        drift = page.locator('#drift-chart figure[data-chart="drift"]')
        drift.locator("canvas").wait_for()
        assert drift.get_attribute("data-points") == "3"
        assert drift.get_attribute("data-runs") == ",".join(r["id"] for r in reversed(runs))  # oldest first, in time

        schedule = page.locator(f'.schedules-table tr[data-schedule="{churn["schedule"]["id"]}"]')
        assert schedule.locator(".next-run").get_attribute("title") == churn["schedule"]["next_run_at"]
        assert "Europe/Paris" in schedule.inner_text() and "0 2 * * *" in schedule.inner_text()
        assert page.locator(".policy").get_by_text("never").is_visible()
        assert page.locator(".alias-history-table tbody tr").count() == 2
        assert "better AUC" in page.locator(".alias-history-table").inner_text()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "models.png"), full_page=True)

        schedule.get_by_role("button", name="Pause").click()
        page.locator(f'.schedules-table tr[data-schedule="{churn["schedule"]["id"]}"][data-paused="true"]').wait_for()
        (listed,) = client.get("/v1/models/churn/schedules").json()
        assert listed["paused"] is True and listed["next_run_at"] is None
        assert schedule.get_by_role("button").inner_text() == "Resume"
        schedule.get_by_role("button", name="Resume").click()
        page.locator(f'.schedules-table tr[data-schedule="{churn["schedule"]["id"]}"][data-paused="false"] .next-run').wait_for()
        assert client.get("/v1/models/churn/schedules").json()[0]["paused"] is False

        page.set_viewport_size(PHONE)  # tables become cards, the charts shrink: nothing wider than the screen
        page.wait_for_timeout(300)
        assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") == 0
        close(page)


def test_rolling_back_moves_the_alias_and_a_stale_page_gets_the_409(browser, stack: Stack, churn) -> None:  # type: ignore[no-untyped-def]
    with stack.client(churn["key"]) as client:
        # polls every 1,000 s: the page keeps what it read first
        page = open_page(browser, stack, churn["key"], "#/models/churn", poll_scale=100)
        back = page.locator('.versions-table tr[data-version="1"] button.move-alias')
        back.wait_for()
        assert back.inner_text() == "Roll back"
        back.click()
        back.click()  # the second click confirms
        page.locator('.versions-table tr[data-version="1"] .badge[data-alias="production"]').wait_for()
        assert client.get("/v1/models/churn").json()["aliases"] == {"production": 1}
        history = client.get("/v1/models/churn/aliases/history").json()
        assert (history[0]["from_version"], history[0]["to_version"]) == (2, 1)
        assert page.locator(".alias-history-table tbody tr").count() == 3

        # someone else moves it to v2 meanwhile; this page still shows v1 and promotes v2 with
        # expected_version 1: the compare-and-set refuses, the page says why and reads again
        assert client.put("/v1/models/churn/aliases/production", json={"version": 2}).status_code == 200
        promote = page.locator('.versions-table tr[data-version="2"] button.move-alias')
        assert promote.inner_text() == "Promote"
        promote.click()
        promote.click()
        problem = page.locator("#model-feedback .problem")
        problem.wait_for()
        assert "409" in problem.inner_text()
        page.locator('.versions-table tr[data-version="2"] .badge[data-alias="production"]').wait_for()  # read again after
        assert len(client.get("/v1/models/churn/aliases/history").json()) == 4  # the refused move left no event
        close(page)
