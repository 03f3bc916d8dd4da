"""Scoring outputs count against the tenant's artifact quota (issue 10, item 11), on real processes.

Uploads are checked in tests/service/test_upload_limits.py; here a scoring job is refused at
submit when the tenant is already at its quota, and fails — its files removed, the reason named
— when the output it wrote would take the tenant past the quota.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from support.stack import Stack, wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRAIN_SPEC = {
    "name": "a model to score with",
    "task": "binary_classification",
    "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
    "model": {"type": "logistic"},
    "training": {"epochs": 1, "batch_size": 4096, "seed": 0},
}
SCORE_BANK = {"dataset": {"ref": "builtin:bank-marketing"}}


def test_scoring_outputs_count_against_the_artifact_quota(stack: Stack) -> None:
    with stack.client() as admin:
        created = admin.post("/v1/tenants", json={"name": f"scoring-quota-{stack.kind}-{time.monotonic_ns() % 10**8}"})
        assert created.status_code == 201, created.text
    tenant_id, key = created.json()["tenant_id"], created.json()["api_key"]
    with stack.client(key) as client:
        trained = client.post("/v1/jobs", json=TRAIN_SPEC).json()
        finished = wait_for_status(client, trained["id"], {"succeeded", "failed", "cancelled"}, timeout=120)
        assert finished["status"] == "succeeded", finished["error"]
        checkpoints = client.get(f"/v1/jobs/{trained['id']}/checkpoints").json()["checkpoints"]
    stored = sum(checkpoint["size_bytes"] for checkpoint in checkpoints)

    def set_quota(max_bytes: int) -> None:
        with stack.client() as admin:
            assert admin.patch(f"/v1/tenants/{tenant_id}", json={"max_artifact_bytes": max_bytes}).status_code == 200

    set_quota(stored)  # at the quota: nothing more may be written
    with stack.client(key) as client:
        refused = client.post(f"/v1/jobs/{trained['id']}/predictions", json=SCORE_BANK)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json") and "retry-after" not in refused.headers
    assert refused.json()["errors"][0]["path"] == "max_artifact_bytes" and refused.json()["errors"][0]["usage"] == stored
    assert "no room for a scoring job's output" in refused.json()["detail"]

    set_quota(stored + 1_000)  # room to start, not for 41,188 scores
    with stack.client(key) as client:
        scoring = client.post(f"/v1/jobs/{trained['id']}/predictions", json=SCORE_BANK)
        assert scoring.status_code == 202, scoring.text
        failed = wait_for_status(client, scoring.json()["id"], {"succeeded", "failed", "cancelled"}, timeout=120)
    assert failed["status"] == "failed", failed
    error = failed["error"]
    assert error["type"] == "quota_exceeded" and error["failure_class"] == "user", error
    assert error["path"] == "max_artifact_bytes" and f"{stored + 1_000:,} bytes" in error["message"]
    assert "this scoring job's output adds" in error["message"] and "max_artifact_bytes" in error["message"]
    assert not list((Path(stack.env["ADAMANT_HOME"]) / "artifacts" / "jobs" / scoring.json()["id"]).rglob("predictions.*"))

    set_quota(stored + 50_000_000)  # raised: the same scoring goes through, and is counted
    with stack.client(key) as client:
        scoring = client.post(f"/v1/jobs/{trained['id']}/predictions", json=SCORE_BANK)
        done = wait_for_status(client, scoring.json()["id"], {"succeeded", "failed", "cancelled"}, timeout=120)
        assert done["status"] == "succeeded", done["error"]
        output = done["result"]["stored_bytes"]
        assert output > done["result"]["bytes"] > 1_000
        set_quota(stored + output)
        refused = client.post("/v1/datasets", files={"file": ("small.csv", b"a,b\n1,2\n", "text/csv")})
    assert refused.status_code == 409 and refused.json()["errors"][0]["usage"] == stored + output, refused.text
