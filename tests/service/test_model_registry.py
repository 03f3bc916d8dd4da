"""The model registry through the API: register two trained jobs as versions of one model, serve
it by name, move `production` and see predict answer with the new version at once, roll back,
and keep a version in use from being deleted. Jobs are trained in-process by run_job."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.in_process import ADMIN_KEY, service_with_trained_jobs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
ROWS = [{"age": 41, "job": "admin.", "marital": "married", "education": "university.degree", "campaign": 2},
        {"age": 70, "job": "retired", "marital": "married", "education": "basic.4y", "campaign": 1}]


def spec(features: list[str]) -> dict[str, Any]:
    return {
        "task": "binary_classification",
        "dataset": {"ref": "builtin:bank-marketing", "target": "y", "features": features},
        "model": {"type": "logistic"},
        "training": {"epochs": 1, "batch_size": 4096},
        "resources": {"device": "cpu"},
    }


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str], list[str]]]:
    """A service, a tenant's headers and two succeeded jobs trained on different columns."""
    specs = [spec(features) for features in (["age", "campaign"], ["age", "job", "marital", "education", "campaign"])]
    with service_with_trained_jobs(tmp_path_factory.mktemp("registry"), "registry", specs) as trained:
        yield trained


def job_scores(client: TestClient, headers: dict[str, str], job_id: str) -> list[float]:
    reply = client.post(f"/v1/jobs/{job_id}/predict", json={"rows": ROWS}, headers=headers)
    assert reply.status_code == 200, reply.text
    return [p["score"] for p in reply.json()["predictions"]]


def test_predict_by_name_answers_with_the_version_the_alias_names_now(service) -> None:  # type: ignore[no-untyped-def]
    client, headers, (first_job, second_job) = service
    assert client.post("/v1/models", json={"name": "churn", "task": "binary_classification"}, headers=headers).status_code == 201
    duplicate = client.post("/v1/models", json={"name": "churn", "task": "binary_classification"}, headers=headers)
    assert duplicate.status_code == 409 and duplicate.json()["errors"][0]["path"] == "name"
    for job_id, number in ((first_job, 1), (second_job, 2)):
        version = client.post("/v1/models/churn/versions", json={"job_id": job_id}, headers=headers)
        assert version.status_code == 201, version.text
        assert version.json()["version"] == number and "val_auc" in version.json()["metrics"]

    unserved = client.post("/v1/models/churn/predict", json={"rows": ROWS}, headers=headers)
    assert unserved.status_code == 404 and "churn@production" in unserved.json()["detail"]

    assert client.put("/v1/models/churn/aliases/production", json={"version": 1}, headers=headers).status_code == 200
    served = client.post("/v1/models/churn/predict", json={"rows": ROWS}, headers=headers).json()
    assert (served["version"], served["alias"], served["job_id"]) == (1, "production", first_job)
    assert [p["score"] for p in served["predictions"]] == job_scores(client, headers, first_job)

    moved = client.put("/v1/models/churn/aliases/production", json={"version": 2, "expected_version": 1,
                                                                    "reason": "more columns"}, headers=headers)
    assert moved.status_code == 200, moved.text
    served = client.post("/v1/models/churn/predict", json={"rows": ROWS}, headers=headers).json()
    assert served["version"] == 2 and [p["score"] for p in served["predictions"]] == job_scores(client, headers, second_job)
    pinned = client.post("/v1/models/churn/predict", json={"rows": ROWS, "version": "1"}, headers=headers).json()
    assert pinned["version"] == 1 and pinned["alias"] is None

    stale = client.put("/v1/models/churn/aliases/production", json={"version": 1, "expected_version": 1}, headers=headers)
    assert stale.status_code == 409 and stale.json()["errors"][0]["path"] == "expected_version"
    in_use = client.delete("/v1/models/churn/versions/2", headers=headers)
    assert in_use.status_code == 409 and "in use by alias 'production'" in in_use.json()["detail"]

    back = client.put("/v1/models/churn/aliases/production", json={"version": 1, "reason": "rollback"}, headers=headers)
    assert back.status_code == 200
    assert client.post("/v1/models/churn/predict", json={"rows": ROWS}, headers=headers).json()["version"] == 1
    history = client.get("/v1/models/churn/aliases/history", headers=headers).json()
    actor = "key:" + headers["Authorization"].removeprefix("Bearer ")[:8]
    assert [(e["from_version"], e["to_version"], e["reason"]) for e in history] == [
        (2, 1, "rollback"), (1, 2, "more columns"), (None, 1, None)]
    assert {e["actor"] for e in history} == {actor}
    detail = client.get("/v1/models/churn", headers=headers).json()
    assert detail["aliases"] == {"production": 1} and [v["aliases"] for v in detail["versions"]] == [["production"], []]


def test_names_are_checked_and_another_tenant_sees_nothing(service) -> None:  # type: ignore[no-untyped-def]
    client, headers, (first_job, _) = service
    bad = client.post("/v1/models", json={"name": "Churn Model", "task": "binary_classification"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "name"
    client.post("/v1/models", json={"name": "spend", "task": "regression"}, headers=headers)
    wrong_task = client.post("/v1/models/spend/versions", json={"job_id": first_job}, headers=headers)
    assert wrong_task.status_code == 409 and wrong_task.json()["errors"][0]["path"] == "job_id"

    other = client.post("/v1/tenants", json={"name": "registry-other"}, headers=ADMIN).json()["api_key"]
    theirs = {"Authorization": f"Bearer {other}"}
    assert client.get("/v1/models/churn", headers=theirs).status_code == 404
    assert client.post("/v1/models/churn/predict", json={"rows": ROWS}, headers=theirs).status_code == 404
    assert client.get("/v1/models", headers=theirs).json() == []
