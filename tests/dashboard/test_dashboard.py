"""The dashboard in a real Chromium against a live stack: sign in, submit a preset and watch it
train, download a checkpoint, cancel, inline field errors, cheap idle polling, phone widths,
datasets, sweeps and comparisons.

The tests share one stack and run in file order: the sweep and comparison start (under a tenant
of their own) as soon as the first job is submitted, and train beside it and the tests after
it; the long job to cancel comes last, when the worker's slots are free again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.browser import PHONE, SCREENSHOTS, close, horizontal_overflow, open_page, wait_until
from support.stack import Stack, create_tenant

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SMALL_BASE = {  # a regression on built-in cdnow-spend: small, so a trial takes seconds
    "task": "regression",
    "dataset": {"ref": "builtin:cdnow-spend", "target": "future_spend", "id_column": "customer_id"},
    "model": {"type": "mlp", "hidden": [16]},
    "training": {"epochs": 2, "batch_size": 512, "log_every_steps": 5},
    "checkpointing": {"every_epochs": 1, "keep_last": 1},
}
state: dict[str, Any] = {}  # what a test hands the ones after it (job ids, parents)








def chart_points(page) -> int:  # type: ignore[no-untyped-def]
    return int(page.locator("#charts").get_attribute("data-points") or 0)




@pytest.fixture(scope="module")
def client(stack: Stack, tenant_key: str) -> Iterator[Any]:
    with stack.client(tenant_key) as client:
        yield client


def test_sign_in_keeps_the_key_in_the_tab(browser, stack: Stack, tenant_key: str) -> None:  # type: ignore[no-untyped-def]
    page = open_page(browser, stack, None)
    page.fill("#api-key", "not-a-key")
    page.click("button[type=submit]")
    page.get_by_text("That key was not accepted").wait_for()
    page.fill("#api-key", tenant_key)
    page.click("button[type=submit]")
    page.get_by_role("heading", name="Jobs").wait_for()
    assert page.evaluate("sessionStorage.getItem('adamant.apiKey')") == tenant_key
    assert page.locator(".topbar").is_visible()
    page.click("#sign-out")
    page.locator("#api-key").wait_for()
    assert page.evaluate("sessionStorage.getItem('adamant.apiKey')") is None
    close(page)


def test_an_invalid_spec_shows_its_field_errors_inline(browser, stack: Stack, tenant_key: str) -> None:  # type: ignore[no-untyped-def]
    page = open_page(browser, stack, tenant_key, "#/submit")
    page.locator(".preset").first.wait_for()
    spec = {
        "task": "binary_classification",
        "dataset": {"ref": "builtin:bank-marketing", "target": "y"},
        "model": {"type": "mlp", "hidden": [-1]},
        "optimizer": {"name": "adam", "lr": -1},
        "training": {"epochs": 0},
    }
    text = json.dumps(spec, indent=2)
    page.fill("#spec-editor", text)
    page.click("#submit-spec")
    lr_error = page.locator('.field-error[data-path="optimizer.lr"]')
    lr_error.wait_for()
    lines = text.split("\n")
    lr_line = next(i for i, line in enumerate(lines, 1) if '"lr"' in line)
    assert f"line {lr_line}" in lr_error.inner_text()
    assert "greater than 0" in lr_error.inner_text()
    assert page.locator('.field-error[data-path="training.epochs"]').is_visible()
    hidden = page.locator('.field-error[data-path="model.mlp.hidden.0"]')  # pydantic's path names the union tag
    assert f"line {next(i for i, line in enumerate(lines, 1) if '-1' in line and 'lr' not in line)}" in hidden.inner_text()
    assert "greater than 0" in page.locator('[data-error-for="optimizer.lr"]').inner_text()  # beside the quick field too
    assert page.locator(".gutter .bad-line").count() == 3
    assert page.locator("#spec-editor").get_attribute("aria-invalid") is not None
    # Broken JSON is caught before it is sent, with its line.
    page.fill("#spec-editor", '{\n  "task": "regression",\n  oops\n}')
    page.click("#check-spec")
    assert "line 3" in page.locator(".field-error").first.inner_text()
    assert page.url.endswith("#/submit")
    close(page)


def test_a_preset_trains_with_live_charts_and_its_checkpoint_downloads(browser, stack: Stack, tenant_key: str, client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Polls four times a second, so the charts are read several times while the job trains.
    page = open_page(browser, stack, tenant_key, "#/submit", poll_scale=0.25)
    page.click('.preset[data-preset="bank-marketing-propensity.json"]')
    page.locator('.preset[data-preset="bank-marketing-propensity.json"][aria-pressed]').wait_for()  # loaded
    # Shorter than the preset, with small batches, so it trains for a few seconds and logs often.
    for field, value in (("#field-training-epochs", "3"), ("#field-training-batch_size", "128"), ("#field-name", "dashboard propensity")):
        page.fill(field, value)
        page.press(field, "Tab")
    assert '"epochs": 3' in page.input_value("#spec-editor")
    page.click("#submit-spec")
    page.wait_for_url("**/#/jobs/job_*")
    job_id = page.url.split("#/jobs/")[1]
    state["job"] = job_id
    start_sweep_and_comparison(stack)  # their trials train beside this job and the tests after it

    page.wait_for_function("Number(document.querySelector('#charts').dataset.points || 0) > 0", timeout=60_000)
    first = chart_points(page)
    wait_until(page, lambda: chart_points(page) > first, 60, "the charts to gain points")
    for chart in ("loss", "lr", "grad_norm", "update_ratio"):
        assert page.locator(f'figure[data-chart="{chart}"] canvas').count() == 1, chart
    assert page.locator('figure[data-chart="update_ratio"]').get_attribute("data-series").count("update_ratio") >= 2  # per layer group

    page.locator('.job-header .badge[data-status="succeeded"]').wait_for(timeout=90_000)
    page.locator('figure[data-chart="quality"]').wait_for()  # val_auc after the evaluations
    assert chart_points(page) > first
    assert page.locator(".logs").inner_text().strip()
    page.locator(".checkpoints-table button.download").first.wait_for()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "job.png"), full_page=True)

    with page.expect_download() as download_info:
        page.locator(".checkpoints-table button.download").first.click()
    saved = tmp_path / "checkpoint.tar"
    download_info.value.save_as(saved)
    assert download_info.value.suggested_filename.startswith(job_id)
    assert saved.stat().st_size > 1000
    close(page)


def start_sweep_and_comparison(stack: Stack) -> None:
    """Under a tenant of their own (their child jobs stay out of the jobs list the tests watch)."""
    key = create_tenant(stack, "dashboard-sweeps")
    with stack.client(key) as client:
        sweep = client.post("/v1/sweeps", json={
            "name": "lr grid", "base": SMALL_BASE, "method": "grid", "parallelism": 2,
            "space": {"optimizer.lr": {"type": "choice", "values": [1e-3, 1e-2]}},
        })
        comparison = client.post("/v1/comparisons", json={
            "name": "adam vs sgd", "base": SMALL_BASE, "optimizers": ["adam", "sgd"], "seeds": [0], "parallelism": 2,
        })
    assert sweep.status_code == comparison.status_code == 202, (sweep.text, comparison.text)
    state.update(parents_key=key, sweep=sweep.json()["id"], comparison=comparison.json()["id"])


def test_idle_polls_cost_only_304s(browser, stack: Stack, tenant_key: str, client) -> None:  # type: ignore[no-untyped-def]
    """Nothing of this tenant runs: the jobs list and a finished job's page poll with
    If-None-Match, and 20 polls move no body bytes."""
    assert all(j["status"] == "succeeded" for j in client.get("/v1/jobs").json()["jobs"])
    for route, path in (("#/jobs", "/v1/jobs"), (f"#/jobs/{state['job']}", f"/v1/jobs/{state['job']}")):
        page = open_page(browser, stack, tenant_key, route, poll_scale=0.005)
        page.locator(".jobs-table tbody tr, .job-header .badge").first.wait_for()
        page.wait_for_timeout(500)  # the first full reads are done
        polls: list[Any] = []
        page.on("response", lambda response: polls.append(response) if response.url.split("?")[0].endswith(path) else None)
        wait_until(page, lambda: len(polls) >= 20, 30, f"20 polls of {path}")
        sizes = [(response.status, response.request.sizes()) for response in polls[:20]]
        statuses = {status for status, _ in sizes}
        body = sum(size["responseBodySize"] for _, size in sizes)
        total = sum(size["responseBodySize"] + size["responseHeadersSize"] for _, size in sizes)
        assert statuses == {304}, (path, statuses)
        assert body == 0 and total < 20 * 200, (path, body, total)  # a 304's headers: about 125 bytes
        close(page)


def test_jobs_list_and_job_page_fit_a_phone(browser, stack: Stack, tenant_key: str) -> None:  # type: ignore[no-untyped-def]
    page = open_page(browser, stack, tenant_key, "#/jobs", viewport=PHONE)
    page.locator(".jobs-table tbody tr").first.wait_for()
    assert horizontal_overflow(page) == 0
    page.goto(f"{stack.base_url}/#/jobs/{state['job']}")
    page.locator('figure[data-chart="loss"] canvas').wait_for()
    page.locator(".checkpoints-table").wait_for()
    assert horizontal_overflow(page) == 0
    for route, ready in (("#/submit", ".preset"), ("#/datasets", ".builtin table")):
        page.goto(f"{stack.base_url}/{route}")
        page.locator(ready).first.wait_for()
        assert horizontal_overflow(page) == 0, route
    close(page)


def test_a_dataset_uploads_and_shows_its_schema_and_preview(browser, stack: Stack, tenant_key: str) -> None:  # type: ignore[no-untyped-def]
    page = open_page(browser, stack, tenant_key, "#/datasets")
    csv = "customer_id;age;channel;spend\n1;34;email;12.5\n2;51;web;\n3;29;email;40\n"
    page.set_input_files("#dataset-file", files=[{"name": "customers.csv", "mimeType": "text/csv", "buffer": csv.encode()}])
    page.fill("#dataset-name", "customers")
    page.click(".upload-form button[type=submit]")
    page.wait_for_url("**/#/datasets/ds_*")
    schema = page.locator(".schema-table")
    schema.wait_for()
    assert schema.locator("tbody tr").count() == 4
    assert "channel" in schema.inner_text() and "email" in schema.inner_text()
    assert page.locator(".preview-table tbody tr").count() == 3
    page.goto(f"{stack.base_url}/#/datasets")
    page.get_by_role("link", name="customers", exact=True).wait_for()
    close(page)


def wait_for_parent(stack: Stack, kind: str, parent_id: str, timeout: float = 120) -> dict:
    with stack.client(state["parents_key"]) as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            view = client.get(f"/v1/{kind}/{parent_id}").json()
            if view["status"] != "running":
                return view
            time.sleep(0.5)
    raise AssertionError(f"{kind} {parent_id} still running: {view['counts']}")


def test_a_sweep_page_shows_its_leaderboard_best_trial_and_trial_states(browser, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    page = open_page(browser, stack, state["parents_key"], f"#/sweeps/{state['sweep']}")
    page.locator(".trials-table").wait_for(timeout=30_000)  # drawn while it runs
    sweep = wait_for_parent(stack, "sweeps", state["sweep"])
    page.locator(f'.parent-page .page-head .badge[data-status="{sweep["status"]}"]').wait_for(timeout=30_000)
    assert sweep["status"] == "succeeded", sweep
    # The page shows what the API says: every trial with its state, the leaderboard, the best.
    assert page.locator(".trials-table tbody tr").count() == len(sweep["trials"]) == 2
    for trial in sweep["trials"]:
        assert page.locator(f'.trials-table tr[data-trial="{trial["number"]}"] .badge').get_attribute("data-status") == trial["state"]
    assert page.locator(".leaderboard-table tbody tr").count() == len(sweep["leaderboard"]) >= 1
    assert f"trial #{sweep['best_trial']['number']}" in page.locator("#best-trial").inner_text()
    assert horizontal_overflow(page) == 0
    page.screenshot(path=str(SCREENSHOTS / "sweep.png"), full_page=True)
    page.goto(f"{stack.base_url}/#/sweeps")
    page.locator(".sweeps-table").get_by_role("link", name="lr grid").wait_for()
    close(page)


def test_a_comparison_page_tables_each_optimizer_and_overlays_curves(browser, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    comparison = wait_for_parent(stack, "comparisons", state["comparison"])
    assert comparison["status"] == "succeeded", comparison
    with stack.client(state["parents_key"]) as client:
        curves = client.get(comparison["links"]["curves"]).json()["curves"]
    page = open_page(browser, stack, state["parents_key"], f"#/comparisons/{state['comparison']}", viewport=PHONE)
    page.locator('table.comparison-table tr[data-optimizer="sgd"]').wait_for(timeout=30_000)
    assert page.locator("table.comparison-table tbody tr").count() == 2
    assert "val_rmse" in page.locator("table.comparison-table thead").text_content()
    for row in comparison["table"]:
        shown = page.locator(f'table.comparison-table tr[data-optimizer="{row["optimizer"]}"] td[data-label="Best val_rmse"]').inner_text()
        assert float(shown.split("±")[0].replace(",", "")) == pytest.approx(row["best_val_rmse"]["mean"], rel=1e-3)
    overlay = page.locator('#comparison-curves figure[data-chart="overlay"]')
    overlay.wait_for()
    assert overlay.locator("canvas").count() == 1
    assert overlay.get_attribute("data-series") == str(sum(1 for c in curves if c["points"])) == "2"
    assert int(overlay.get_attribute("data-points")) == sum(len(c["points"]) for c in curves) >= 2
    assert horizontal_overflow(page) == 0
    page.goto(f"{stack.base_url}/#/comparisons")
    page.get_by_role("link", name="adam vs sgd").wait_for()
    close(page)


def test_a_job_reading_its_table_shows_rows_rate_and_eta(browser, stack: Stack, tenant_key: str) -> None:  # type: ignore[no-untyped-def]
    page = open_page(browser, stack, tenant_key)
    line = page.evaluate("""async () => {
      const { dataPhaseLine } = await import("./js/pages/job_sections.js");
      const data = { phase: "reading", rows_read: 1234567, rows_total: 10000000, rows_per_s: 850000, eta_s: 10.6 };
      const ready = dataPhaseLine({ status: "running", progress: { data: { ...data, phase: "ready" } } });
      return [dataPhaseLine({ status: "running", progress: { data } }).textContent, ready];
    }""")
    assert line == ["Reading 1.2M / 10M rows · 850k rows/s · ETA 11s", None]
    close(page)


def test_cancelling_a_running_job(browser, stack: Stack, tenant_key: str, client) -> None:  # type: ignore[no-untyped-def]
    """Last, so that the slots the sweep's trials took are free and the long job starts at once."""
    long = {**SMALL_BASE, "name": "long job", "training": {"epochs": 500, "batch_size": 64}}
    job = client.post("/v1/jobs", json=long).json()
    page = open_page(browser, stack, tenant_key, f"#/jobs/{job['id']}")
    page.locator('.job-header .badge[data-status="running"]').wait_for(timeout=60_000)
    wait_until(page, lambda: client.get(f"/v1/jobs/{job['id']}").json()["progress"]["step"] > 0, 60, "the long job to train")
    page.click("#cancel-job")
    page.click("#cancel-job")  # the second click confirms
    page.locator('.job-header .badge[data-status="cancelled"]').wait_for(timeout=60_000)
    page.locator("#resume-job").wait_for()
    cancelled = client.get(f"/v1/jobs/{job['id']}").json()
    assert cancelled["status"] == "cancelled" and 0 < cancelled["progress"]["step"] < cancelled["progress"]["total_steps"]
    page.goto(f"{stack.base_url}/#/jobs")
    page.locator('.jobs-table tr[data-status="cancelled"]').wait_for()
    page.locator('.jobs-table tr[data-status="succeeded"]').wait_for()
    assert horizontal_overflow(page) == 0
    page.screenshot(path=str(SCREENSHOTS / "jobs.png"))
    close(page)
