"""A job's log lines over HTTP: `GET /v1/jobs/{id}/logs?after=CURSOR` returns only the lines after
the cursor and the next cursor, so a poller sees each line once, in order, while the job runs."""

from __future__ import annotations

import time

import pytest

from support.stack import Stack, wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TERMINAL = {"succeeded", "failed", "cancelled"}


def training_spec() -> dict:
    return {
        "task": "binary_classification",
        "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
        "model": {"type": "mlp", "hidden": [16]},
        "training": {"epochs": 3, "batch_size": 512},
    }


def test_polling_logs_after_the_cursor_sees_each_line_once_in_order(stack: Stack, tenant_key: str) -> None:
    polled: list[dict] = []
    cursor, polls_with_lines = 0, 0
    with stack.client(tenant_key) as client:
        job_id = client.post("/v1/jobs", json=training_spec()).json()["id"]
        deadline = time.monotonic() + 180
        while True:
            ended = client.get(f"/v1/jobs/{job_id}").json()["status"] in TERMINAL
            page = client.get(f"/v1/jobs/{job_id}/logs", params={"after": cursor}).json()
            polled += page["lines"]
            polls_with_lines += bool(page["lines"])
            assert page["next_cursor"] == (page["lines"][-1]["seq"] if page["lines"] else cursor)
            cursor = page["next_cursor"]
            if ended:  # this page was read after the end: it drained everything
                break
            assert time.monotonic() < deadline, f"job {job_id} still running after 180 s"
            time.sleep(0.3)
        everything = client.get(f"/v1/jobs/{job_id}/logs", params={"after": 0, "limit": 10_000}).json()
        nothing_new = client.get(f"/v1/jobs/{job_id}/logs", params={"after": cursor}).json()
    assert polled == everything["lines"] and len(polled) >= 3
    assert [line["seq"] for line in polled] == sorted({line["seq"] for line in polled})  # once each, in order
    assert polls_with_lines >= 2  # the lines arrived over several polls, not in one page at the end
    assert nothing_new == {"lines": [], "next_cursor": cursor}


def test_log_pages_of_a_finished_job_tile_its_whole_log(stack: Stack, tenant_key: str) -> None:
    with stack.client(tenant_key) as client:
        job_id = client.post("/v1/jobs", json={**training_spec(), "training": {"epochs": 1, "batch_size": 1024}}).json()["id"]
        wait_for_status(client, job_id, {"succeeded"})
        everything = client.get(f"/v1/jobs/{job_id}/logs").json()["lines"]
        pages, cursor = [], 0
        while page := client.get(f"/v1/jobs/{job_id}/logs", params={"after": cursor, "limit": 2}).json()["lines"]:
            assert len(page) <= 2
            pages.append(page)
            cursor = page[-1]["seq"]
        past_the_end = client.get(f"/v1/jobs/{job_id}/logs", params={"after": 2**62})
        negative = client.get(f"/v1/jobs/{job_id}/logs", params={"after": -1})
    assert [line for page in pages for line in page] == everything and len(pages) >= 2
    assert past_the_end.json() == {"lines": [], "next_cursor": 2**62}
    assert negative.status_code == 422 and negative.json()["errors"][0]["path"].endswith("after")
