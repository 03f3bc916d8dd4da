"""What the service checks in a spec before it queues anything, answered as a 422 naming the field.

Issue 10, item 16: a misspelt `training.monitor` ("val_acu") was accepted and the run ended
with no best checkpoint. Item 7: an 8-billion-parameter model passed the dry run and died in
the worker as "a bug in Adamant".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adamant.metric_names import monitorable
from adamant.settings import Settings

pytestmark = [pytest.mark.integration]

ADMIN_KEY = "spec-checks-admin-key-0123456789"
PROBLEM = "application/problem+json"


def spec(**parts: object) -> dict:
    base: dict = {
        "task": "binary_classification",
        "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
        "model": {"type": "mlp", "hidden": [16]},
        "training": {"epochs": 1},
        "resources": {"device": "cuda"},  # never runs: there is no worker here
    }
    return base | parts


def service_for(home: Path, **settings: object) -> TestClient:
    from service.app import create_app

    app = create_app(Settings(home=home, admin_key=ADMIN_KEY, local_user=False, **settings), run_sweeps=False)
    return TestClient(app)


def tenant_headers(client: TestClient) -> dict[str, str]:
    reply = client.post("/v1/tenants", json={"name": "specchecks"}, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert reply.status_code == 201, reply.text
    return {"Authorization": f"Bearer {reply.json()['api_key']}"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with service_for(tmp_path_factory.mktemp("spec-checks")) as client:
        yield client, tenant_headers(client)


def errors_at(reply, path: str) -> list[dict]:  # type: ignore[no-untyped-def]
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith(PROBLEM)
    found = [error for error in reply.json()["errors"] if error["path"] == path]
    assert found, reply.json()["errors"]
    return found


# --- item 16: the monitored metric is one the task reports -------------------------------------


def test_a_misspelt_monitor_is_a_422_naming_training_monitor_and_listing_the_valid_names(service) -> None:
    client, headers = service
    body = spec(training={"epochs": 1, "monitor": "val_acu"})
    for route in ("/v1/jobs", "/v1/jobs:validate"):
        [error] = errors_at(client.post(route, json=body, headers=headers), "training.monitor")
        assert "val_acu" in error["message"]
        for name in monitorable("binary_classification"):
            assert name in error["message"]
    assert client.get("/v1/jobs", headers=headers).json()["jobs"] == []


def test_a_metric_of_another_task_is_refused_too(service) -> None:
    client, headers = service
    body = spec(training={"epochs": 1, "monitor": "val_rmse"})  # regression's, not classification's
    errors_at(client.post("/v1/jobs", json=body, headers=headers), "training.monitor")
    sweep = {"base": body, "space": {"optimizer.lr": {"type": "log_uniform", "low": 1e-4, "high": 1e-1}}, "trials": 2}
    errors_at(client.post("/v1/sweeps", json=sweep, headers=headers), "base.training.monitor")


def test_a_valid_monitor_is_accepted_with_its_direction(service) -> None:
    client, headers = service
    reply = client.post("/v1/jobs", json=spec(training={"epochs": 1, "monitor": "val_log_loss"}), headers=headers)
    assert reply.status_code == 202, reply.text


def test_a_sweep_metric_or_comparison_target_the_task_never_reports_is_a_422(service) -> None:
    client, headers = service
    space = {"optimizer.lr": {"type": "log_uniform", "low": 1e-4, "high": 1e-1}}
    sweep = client.post("/v1/sweeps", json={"base": spec(), "space": space, "trials": 2, "metric": "val_acu"}, headers=headers)
    [error] = errors_at(sweep, "metric")
    assert "val_auc" in error["message"]
    comparison = client.post("/v1/comparisons", json={"base": spec(), "target": {"metric": "auc", "value": 0.7}}, headers=headers)
    errors_at(comparison, "target.metric")
