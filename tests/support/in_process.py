"""A service in this process (FastAPI's TestClient) with jobs trained as a worker would train
them (run_job), for tests that need a trained model but no worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adamant.settings import Settings, get_settings

ADMIN_KEY = "in-process-admin-key-0123456789ab"


@contextmanager
def service_with_trained_jobs(home: Path, tenant: str, specs: list[dict[str, Any]]) -> Iterator[tuple[TestClient, dict[str, str], list[str]]]:
    """(client, a new tenant's headers, the ids of `specs` trained to success, in order)."""
    from service.app import create_app
    from worker.supervisor import run_job

    with pytest.MonkeyPatch.context() as env:
        # The trainer is a process of its own: it reads its settings from the environment.
        for name in ("DATABASE_URL", "BROKER_URL"):
            env.delenv(name, raising=False)
        env.setenv("ADAMANT_HOME", str(home))
        env.setenv("ADAMANT_TORCH_THREADS", "1")
        get_settings.cache_clear()
        try:
            with TestClient(create_app(Settings(home=home, admin_key=ADMIN_KEY, local_user=False), run_sweeps=False)) as client:
                reply = client.post("/v1/tenants", json={"name": tenant}, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
                headers = {"Authorization": f"Bearer {reply.json()['api_key']}", "Content-Type": "application/json"}
                jobs = []
                for spec in specs:
                    job = client.post("/v1/jobs", json=spec, headers=headers).json()
                    assert run_job(job["id"], get_settings()).action == "recorded"
                    assert client.get(f"/v1/jobs/{job['id']}", headers=headers).json()["status"] == "succeeded"
                    jobs.append(job["id"])
                yield client, headers, jobs
        finally:
            get_settings.cache_clear()
