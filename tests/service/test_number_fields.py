"""A number field takes a JSON number: `true` and `"3"` are a 422 naming the field, never a setting.

Issue 10, item 21 (the fuzz run): pydantic's lax mode read `true` as 1 and `"3"` as 3, so the API
accepted bodies its own schema calls invalid (`max_datasets: true` made a tenant with one upload,
`training.epochs: "3"` trained three epochs). Every number a user sends is held to JSON's types.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adamant.settings import Settings

pytestmark = [pytest.mark.integration]

ADMIN_KEY = "number-field-tests-admin-key-0123"
NOT_NUMBERS = [True, False, "3"]


def base_spec() -> dict:
    return {
        "task": "binary_classification",
        "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
        "model": {"type": "mlp", "hidden": [8]},
        "training": {"epochs": 1},
        "resources": {"device": "cuda"},  # never runs: there is no worker here
    }


def put(document: dict, path: str, value: object) -> dict:
    document = json.loads(json.dumps(document))
    node = document
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value
    return document


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str], str]]:
    from service.app import create_app

    home: Path = tmp_path_factory.mktemp("numbers")
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    app = create_app(Settings(home=home, admin_key=ADMIN_KEY, local_user=False), run_sweeps=False)
    with TestClient(app) as client:
        reply = client.post("/v1/tenants", json={"name": "numbers"}, headers=admin)
        assert reply.status_code == 201, reply.text
        tenant = reply.json()
        yield client, {"Authorization": f"Bearer {tenant['api_key']}"}, admin, tenant["tenant_id"]


def assert_refused_naming(reply, path: str) -> None:  # type: ignore[no-untyped-def]
    assert reply.status_code == 422, f"{path}: {reply.status_code} {reply.text}"
    assert reply.headers["content-type"].startswith("application/problem+json")
    paths = [error["path"] for error in reply.json()["errors"]]
    assert path in paths, paths


JOB_FIELDS = ["training.epochs", "training.batch_size", "optimizer.lr", "model.mlp.hidden.0", "max_restarts", "priority"]


@pytest.mark.parametrize("value", NOT_NUMBERS, ids=repr)
@pytest.mark.parametrize("field", JOB_FIELDS)
def test_a_job_spec_number_given_as_a_boolean_or_string_is_a_422_naming_it(service, field: str, value: object) -> None:
    client, headers, _, _ = service
    body = put(base_spec(), field.replace("mlp.", ""), value)
    for route in ("/v1/jobs", "/v1/jobs:validate"):
        assert_refused_naming(client.post(route, json=body, headers=headers), field)
    assert client.get("/v1/jobs", headers=headers).json()["jobs"] == [], "nothing was queued"


def test_the_same_spec_with_numbers_is_valid(service) -> None:
    client, headers, _, _ = service
    reply = client.post("/v1/jobs:validate", json=base_spec(), headers=headers)
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize("value", NOT_NUMBERS, ids=repr)
def test_sweep_and_comparison_counts_given_as_booleans_are_422s(service, value: object) -> None:
    client, headers, _, _ = service
    sweep = {"base": base_spec(), "space": {"optimizer.lr": {"type": "log_uniform", "low": 1e-4, "high": 1e-1}}}
    assert_refused_naming(client.post("/v1/sweeps", json={**sweep, "trials": value}, headers=headers), "trials")
    low = {**sweep, "space": {"optimizer.lr": {"type": "log_uniform", "low": value, "high": 1e-1}}}
    assert_refused_naming(client.post("/v1/sweeps", json=low, headers=headers), "space.optimizer.lr.log_uniform.low")
    comparison = {"base": base_spec(), "seeds": [0, value]}
    assert_refused_naming(client.post("/v1/comparisons", json=comparison, headers=headers), "seeds.1")
    assert client.get("/v1/sweeps", headers=headers).json()["items"] == []


@pytest.mark.parametrize("value", NOT_NUMBERS, ids=repr)
def test_tenant_limits_and_key_grace_given_as_booleans_are_422s(service, value: object) -> None:
    client, headers, admin, tenant_id = service
    reply = client.post("/v1/tenants", json={"name": f"flag-{value}", "max_datasets": value}, headers=admin)
    assert_refused_naming(reply, "max_datasets")
    reply = client.patch(f"/v1/tenants/{tenant_id}", json={"max_concurrent_jobs": value}, headers=admin)
    assert_refused_naming(reply, "max_concurrent_jobs")
    key_id = client.get("/v1/keys", headers=headers).json()["keys"][0]["id"]
    assert_refused_naming(client.post(f"/v1/keys/{key_id}/rotate", json={"grace_s": value}, headers=headers), "grace_s")
    assert client.get("/v1/jobs", headers=headers).status_code == 200, "the key still works: nothing was rotated"


@pytest.mark.parametrize("value", NOT_NUMBERS, ids=repr)
def test_scoring_counts_given_as_booleans_are_422s(service, value: object) -> None:
    client, headers, _, _ = service
    reply = client.post("/v1/jobs/job_missing/predict", json={"rows": [{"age": 30}], "top_k": value}, headers=headers)
    assert_refused_naming(reply, "top_k")
    scoring = {"dataset": {"ref": "builtin:bank-marketing"}, "max_restarts": value}
    assert_refused_naming(client.post("/v1/jobs/job_missing/predictions", json=scoring, headers=headers), "max_restarts")
