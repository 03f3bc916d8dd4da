"""The service's lease reaper does not wait on the sweep controller.

Issue 10, item 6: reaping lapsed leases and stepping sweeps shared one loop, so a controller step
that hung (a TPE proposal, a sweep row locked by a cancel, a slow database) held back the requeue
of every job whose worker had died. Here the controller is stuck for the whole test (a step that
never returns, injected in place of the real one) and a job's lease lapses: it is requeued anyway.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adamant.settings import Settings
from adamant.store import claim_job

pytestmark = [pytest.mark.integration]

ADMIN_KEY = "reaper-loops-admin-key-0123456789"
SPEC = {"task": "binary_classification", "dataset": {"ref": "builtin:bank-marketing", "target": "y"},
        "model": {"type": "logistic"}, "training": {"epochs": 1}, "resources": {"device": "cuda"}}


def test_a_lapsed_lease_is_requeued_while_the_sweep_controller_is_stuck(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from service import reaper
    from service.app import create_app

    stuck, release = threading.Event(), threading.Event()

    def controller_step_that_hangs(*_: object) -> int:
        stuck.set()
        release.wait(30)
        return 0

    monkeypatch.setattr(reaper, "advance_all", controller_step_that_hangs)
    settings = Settings(home=tmp_path, admin_key=ADMIN_KEY, local_user=False, reaper_interval_s=0.2)
    try:
        with TestClient(create_app(settings)) as client:
            assert stuck.wait(10), "the controller loop never ran"
            tenant = client.post("/v1/tenants", json={"name": "reaped"}, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
            headers = {"Authorization": f"Bearer {tenant.json()['api_key']}"}
            job_id = client.post("/v1/jobs", json=SPEC, headers=headers).json()["id"]
            with client.app.state.sessions() as session:
                assert claim_job(session, job_id, "worker-that-dies", ttl_s=0.5) is not None
            deadline = time.monotonic() + 10
            while (job := client.get(f"/v1/jobs/{job_id}", headers=headers).json())["status"] == "running":
                assert time.monotonic() < deadline, f"lease never reaped: {job}"
                time.sleep(0.2)
            assert not release.is_set(), "the controller was stuck the whole time"
            release.set()  # before the app stops: its shutdown waits for the step's thread
    finally:
        release.set()
    assert job["status"] == "queued" and job["attempt"] == 1, job
