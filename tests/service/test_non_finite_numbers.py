"""NaN and Infinity are refused at the edge, with a 422 naming the field.

Issue 10, item 5: Python's json reads `Infinity`, `NaN` (and `1e400`) as floats; the unbounded
float fields of a job spec took them, stored them as null, and the job then crashed every
attempt as a lost worker. A sweep with `high: Infinity` made every later read of the tenant's
sweeps a 500. Bodies are sent as raw text here, since a client's JSON encoder would refuse them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adamant.settings import Settings

pytestmark = [pytest.mark.integration]

ADMIN_KEY = "non-finite-tests-admin-key-0123"
PROBLEM = "application/problem+json"
NON_FINITE = ["Infinity", "-Infinity", "NaN", "1e400"]

# Unbounded float fields (no upper limit that Infinity would break) and where they live.
SPEC_FIELDS = [
    ("schedule", "step_epochs"),
    ("schedule", "decay_rate"),
    ("schedule", "cycle_epochs"),
    ("schedule", "div_factor"),
    ("schedule", "final_div_factor"),
    ("training", "grad_clip_norm"),
    ("training", "early_stopping", "min_delta"),
    ("training", "time_limit_s"),
    ("optimizer", "lr"),
]
MARK = "__NUMBER__"


def base_spec() -> dict:
    return {
        "task": "binary_classification",
        "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
        "model": {"type": "logistic"},
        "training": {"epochs": 1, "early_stopping": {"patience": 2}},
        "resources": {"device": "cuda"},  # never runs: there is no worker here
    }


def with_marker(document: dict, path: tuple[str, ...]) -> dict:
    document = json.loads(json.dumps(document))
    node = document
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = MARK
    return document


def raw_body(document: dict, literal: str) -> str:
    """JSON text with `literal` (Infinity, NaN, ...) where the marker is: not valid JSON, as an attacker sends it."""
    return json.dumps(document).replace(json.dumps(MARK), literal)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    from service.app import create_app

    home: Path = tmp_path_factory.mktemp("non-finite")
    app = create_app(Settings(home=home, admin_key=ADMIN_KEY, local_user=False), run_sweeps=False)
    with TestClient(app) as client:
        reply = client.post("/v1/tenants", json={"name": "nonfinite"}, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert reply.status_code == 201, reply.text
        yield client, {"Authorization": f"Bearer {reply.json()['api_key']}", "Content-Type": "application/json"}


def assert_refused_naming(reply, path: str) -> None:  # type: ignore[no-untyped-def]
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith(PROBLEM)
    paths = [error["path"] for error in reply.json()["errors"]]
    assert path in paths, paths


@pytest.mark.parametrize("literal", NON_FINITE)
@pytest.mark.parametrize("field", SPEC_FIELDS, ids=lambda f: ".".join(f))
def test_a_job_spec_with_a_non_finite_number_is_a_422_naming_the_field(service, field: tuple[str, ...], literal: str) -> None:
    client, headers = service
    body = raw_body(with_marker(base_spec(), field), literal)
    for route in ("/v1/jobs", "/v1/jobs:validate"):
        assert_refused_naming(client.post(route, content=body, headers=headers), ".".join(field))
    listed = client.get("/v1/jobs", headers=headers).json()["jobs"]
    assert listed == [], "nothing was queued"


def sweep(**space: dict) -> dict:
    return {"base": base_spec(), "space": space or {"optimizer.lr": {"type": "log_uniform", "low": 1e-4, "high": 1e-1}}, "trials": 2}


SWEEP_FIELDS = [
    (sweep(**{"optimizer.lr": {"type": "log_uniform", "low": 1e-4, "high": MARK}}), "space.optimizer.lr.log_uniform.high"),
    (sweep(**{"model.dropout": {"type": "uniform", "low": MARK, "high": 0.5}}), "space.model.dropout.uniform.low"),
    (sweep(**{"optimizer.lr": {"type": "choice", "values": [0.01, MARK]}}), "space.optimizer.lr.choice.values.1"),
    (with_marker(sweep(), ("base", "schedule", "div_factor")), "base.schedule.div_factor"),
]


@pytest.mark.parametrize("literal", NON_FINITE)
@pytest.mark.parametrize(("document", "path"), SWEEP_FIELDS, ids=[path for _, path in SWEEP_FIELDS])
def test_a_sweep_with_a_non_finite_number_is_a_422_and_the_sweeps_stay_readable(service, document: dict, path: str, literal: str) -> None:
    client, headers = service
    assert_refused_naming(client.post("/v1/sweeps", content=raw_body(document, literal), headers=headers), path)
    assert client.get("/v1/sweeps", headers=headers).status_code == 200


COMPARISON_FIELDS = [
    ({"base": base_spec(), "optimizers": [{"name": "sgd", "lr": MARK}]}, "optimizers.0.OptimizerChoice.lr"),
    ({"base": base_spec(), "optimizers": [{"name": "sgd", "overrides": {"momentum": MARK}}]}, "optimizers.0.OptimizerChoice.overrides.momentum"),
    ({"base": base_spec(), "target": {"metric": "val_auc", "value": MARK}}, "target.value"),
]


@pytest.mark.parametrize("literal", NON_FINITE)
@pytest.mark.parametrize(("document", "path"), COMPARISON_FIELDS, ids=[path for _, path in COMPARISON_FIELDS])
def test_a_comparison_with_a_non_finite_number_is_a_422_naming_the_field(service, document: dict, path: str, literal: str) -> None:
    client, headers = service
    assert_refused_naming(client.post("/v1/comparisons", content=raw_body(document, literal), headers=headers), path)
