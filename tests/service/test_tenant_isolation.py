"""Every route, two tenants: B never reads, lists, cancels, downloads or predicts with A's things.

Routes are enumerated from the live OpenAPI schema, so a route added later is covered (or
this test fails until it is).
"""

from __future__ import annotations

import os
import re

import pytest

from support.stack import Stack, create_tenant, wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPEC = {
    "task": "binary_classification",
    "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
    "model": {"type": "logistic"},
    "training": {"epochs": 1, "batch_size": 2048},
}
BODIES = {
    "/v1/jobs/{job_id}/predict": {"rows": [{"age": 40}]},
    "/v1/jobs/{job_id}/predictions": {"dataset": {"ref": "builtin:bank-marketing"}},
    "/v1/tenants/{tenant_id}": {"max_concurrent_jobs": 1000},
    "/v1/models/{name}/predict": {"rows": [{"age": 40}]},
    "/v1/models/{name}/aliases/{alias}": {"version": 1},
    "/v1/models/{name}/predictions": {"dataset": {"ref": "builtin:bank-marketing"}},
    "/v1/models/{name}/policy": {},
    "/v1/models/{name}/schedules": {"cron": "0 2 * * *", "dataset": {"ref": "builtin:bank-marketing"}},
    "/v1/models/{name}/monitor-runs": {"dataset": {"ref": "builtin:bank-marketing"}},
    "/v1/models/{name}/monitor-runs/{run_id}/approve": {"approve": True},
    "/v1/schedules/{schedule_id}": {"paused": True},
}
SHARED = {"/v1/datasets/builtin/{name}"}  # the built-in catalogue is the same for every tenant
# a tenant's key is refused outright (403), whoever's id it names
ADMIN_ONLY = {"/v1/tenants/{tenant_id}", "/v1/tenants/{tenant_id}/keys", "/v1/tenants/{tenant_id}/keys/{key_id}",
              "/v1/tenants/{tenant_id}/keys/{key_id}/rotate"}


def test_no_route_lets_a_tenant_reach_another_tenants_things(stack: Stack) -> None:
    with stack.client() as admin:
        created = admin.post("/v1/tenants", json={"name": f"iso-a-{os.getpid()}", "max_concurrent_jobs": 100}).json()
    a_key, a_id = created["api_key"], created["tenant_id"]
    b_key = create_tenant(stack, f"iso-b-{os.getpid()}")
    with stack.client(a_key) as a:
        dataset = a.post("/v1/datasets", files={"file": ("t.csv", b"x,y\n1,0\n2,1\n3,0\n4,1\n", "text/csv")}).json()
        hook = a.post("/v1/webhooks", json={"url": "http://192.0.32.10/hook", "events": ["*"]}).json()  # a public address
        job = a.post("/v1/jobs", json=SPEC).json()
        wait_for_status(a, job["id"], {"succeeded"})
        checkpoint = a.get(f"/v1/jobs/{job['id']}/checkpoints").json()["checkpoints"][0]
        sweep = a.post("/v1/sweeps", json={"base": SPEC, "space": {"optimizer.lr": {"type": "choice", "values": [0.01]}},
                                           "method": "grid", "trials": 1}).json()
        comparison = a.post("/v1/comparisons", json={"base": SPEC, "optimizers": ["sgd"]}).json()
        for started in (sweep, comparison):
            a.post(started["links"]["cancel"])  # ended or not, they stay A's
        ids = {"job_id": job["id"], "dataset_id": dataset["id"], "checkpoint_id": checkpoint["id"],
               "sweep_id": sweep["id"], "comparison_id": comparison["id"], "tenant_id": a_id,
               "key_id": a.get("/v1/keys").json()["keys"][0]["id"]}
        assert a.post("/v1/models", json={"name": "iso-model", "task": SPEC["task"]}).status_code == 201
        assert a.post("/v1/models/iso-model/versions", json={"job_id": job["id"]}).status_code == 201
        assert a.put("/v1/models/iso-model/aliases/production", json={"version": 1}).status_code == 200
        run = a.post("/v1/models/iso-model/monitor-runs", json=BODIES["/v1/models/{name}/monitor-runs"]).json()
        schedule = a.post("/v1/models/iso-model/schedules", json=BODIES["/v1/models/{name}/schedules"]).json()
        ids |= {"run_id": run["id"], "schedule_id": schedule["id"], "webhook_id": hook["id"],
                "delivery_id": a.get(f"/v1/webhooks/{hook['id']}/deliveries").json()[0]["id"]}
        bodies = {**BODIES, "/v1/models/{name}/versions": {"job_id": job["id"]}}
        schema = a.get("/openapi.json").json()
    names_too = {**ids, "name": "iso-model", "alias": "production", "version": "1"}  # not ids: "1" is in any text

    checked = []
    with stack.client(b_key) as b:
        for path, operations in schema["paths"].items():
            names = re.findall(r"{(\w+)}", path)
            if not names or path in SHARED:
                continue
            assert set(names) <= set(names_too), f"test does not know how to fill {path}"
            url = path.format(**names_too)
            for method in operations:
                reply = b.request(method.upper(), url, json=bodies.get(path) if method in ("post", "patch", "put") else None)
                expected = 403 if path in ADMIN_ONLY else 404
                assert reply.status_code == expected, f"{method.upper()} {path} -> {reply.status_code}: {reply.text[:200]}"
                assert job["id"] not in reply.text or "not found" in reply.text
                checked.append(f"{method.upper()} {path}")
        # Routes without an id (lists, catalogues): B's answers name none of A's things.
        listings = {}
        for path, operations in schema["paths"].items():
            if "{" in path or "get" not in operations:
                continue
            reply = b.get(path)
            assert reply.status_code == 200, f"GET {path} -> {reply.status_code}: {reply.text[:200]}"
            leaked = [name for name, value in {**ids, "model": "iso-model"}.items() if value in reply.text]
            assert leaked == [], f"GET {path} shows tenant A's {leaked}: {reply.text[:300]}"
            listings[path] = reply.text
        listed = b.get("/v1/jobs").json()["jobs"] + b.get("/v1/datasets").json()["datasets"]
        submit = b.post("/v1/jobs", json={**SPEC, "dataset": {**SPEC["dataset"], "ref": dataset["ref"]}})
        warm = b.post("/v1/jobs", json={**SPEC, "init_from": job["id"]})
    assert listed == []
    assert submit.status_code == 422 and "dataset.ref" in {e["path"] for e in submit.json()["errors"]}
    assert warm.status_code == 422 and "init_from" in {e["path"] for e in warm.json()["errors"]}
    assert len(checked) >= 10, checked
    assert {"/v1/jobs", "/v1/datasets", "/v1/sweeps", "/v1/comparisons", "/v1/keys", "/v1/models"} <= set(listings), sorted(listings)
    with stack.client(a_key) as a:  # and A still has everything, in the same lists
        assert a.get(f"/v1/jobs/{job['id']}").json()["status"] == "succeeded"
        assert a.post("/v1/models/iso-model/predict", json={"rows": [{"age": 40}]}).status_code in (200, 422)
        assert a.get("/v1/models/iso-model").json()["aliases"] == {"production": 1}
        for path, name in [("/v1/jobs", "job_id"), ("/v1/datasets", "dataset_id"), ("/v1/sweeps", "sweep_id"),
                           ("/v1/comparisons", "comparison_id"), ("/v1/keys", "key_id")]:
            assert ids[name] in a.get(path).text, f"A's own GET {path} does not show its {name}"


@pytest.mark.parametrize(
    "ref",
    [
        "file:../../etc/passwd",
        "file:%2e%2e/%2e%2e/etc/passwd",
        "file:/etc/passwd",
        "file:files/../../../etc/passwd",
        "file:escape/passwd",  # a symlink inside the root that points outside it
        "file:%00.csv",
    ],
)
def test_path_traversal_dataset_references_are_refused(stack: Stack, ref: str) -> None:
    root = stack.home / "files"
    link = root / "escape"
    if not link.exists():
        link.symlink_to("/etc")
    key = create_tenant(stack, f"trav-{abs(hash(ref)) % 100000}")
    with stack.client(key) as client:
        reply = client.post("/v1/jobs", json={**SPEC, "dataset": {**SPEC["dataset"], "ref": ref}})
        dry = client.post("/v1/jobs:validate", json={**SPEC, "dataset": {**SPEC["dataset"], "ref": ref}})
    assert reply.status_code == 422 and dry.status_code == 422
    problem = reply.json()
    assert problem["errors"][0]["path"] == "dataset.ref"
    assert "root:" not in reply.text  # nothing of the file leaks
