"""Prometheus /metrics on the real processes: a finished job is counted and timed, polls are timed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from adamant.settings import Settings
from support.stack import Stack, wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUICK_SPEC = {
    "name": "metrics probe",
    "task": "binary_classification",
    "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
    "model": {"type": "mlp", "hidden": [8]},
    "training": {"epochs": 1, "batch_size": 2048, "log_every_steps": 4},
}


def scrape(text: str) -> dict[str, list]:
    """Samples by sample name (adamant_jobs, adamant_job_duration_seconds_count, ...)."""
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list], name: str, **labels: str) -> float:
    return sum(s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items()))


def test_a_finished_job_is_counted_and_timed_and_polls_are_timed(stack: Stack, tenant_key: str) -> None:
    with stack.client(tenant_key) as client:
        job = client.post("/v1/jobs", json=QUICK_SPEC)
        assert job.status_code == 202, job.text
        finished = wait_for_status(client, job.json()["id"], {"succeeded", "failed", "cancelled"})
        assert finished["status"] == "succeeded", finished["error"]
        assert client.get(f"/v1/jobs/{finished['id']}/metrics", params={"after": 0}).status_code == 200
        assert client.get("/v1/jobs").status_code == 200

    reply = httpx.get(stack.base_url + "/metrics", timeout=30)  # no API key: aggregates only
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    samples = scrape(reply.text)

    assert value(samples, "adamant_jobs", status="succeeded") >= 1
    assert {s.labels["queue"] for s in samples["adamant_queue_depth"]} >= {"cpu", "gpu"}
    assert value(samples, "adamant_job_duration_seconds_count", status="succeeded") >= 1
    assert value(samples, "adamant_job_duration_seconds_sum", status="succeeded") > 0
    assert value(samples, "adamant_job_step_seconds_count") >= 1 and value(samples, "adamant_job_step_seconds_sum") > 0
    assert value(samples, "adamant_poll_latency_seconds_count", route="/v1/jobs/{job_id}") > 0
    assert value(samples, "adamant_poll_latency_seconds_count", route="/v1/jobs/{job_id}/metrics") > 0
    buckets = [s for s in samples["adamant_poll_latency_seconds_bucket"] if s.labels["route"] == "/v1/jobs/{job_id}"]
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == value(
        samples, "adamant_poll_latency_seconds_count", route="/v1/jobs/{job_id}"
    )


@pytest.mark.parametrize("enabled, token, presented, expected", [
    (True, None, None, 200),
    (False, None, None, 404),
    (True, "scrape-token-0123456789", None, 401),
    (True, "scrape-token-0123456789", "scrape-token-0123456789", 200),
])
def test_metrics_can_be_turned_off_or_put_behind_a_token(
    tmp_path: Path, enabled: bool, token: str | None, presented: str | None, expected: int
) -> None:
    from service.app import create_app

    settings = Settings(home=tmp_path, metrics_enabled=enabled, metrics_token=token, local_user=False)
    headers = {"Authorization": f"Bearer {presented}"} if presented else {}
    with TestClient(create_app(settings, run_sweeps=False)) as client:
        reply = client.get("/metrics", headers=headers)
    assert reply.status_code == expected, reply.text
    if expected == 200:
        assert "adamant_jobs{" in reply.text and "adamant_queue_depth{" in reply.text
