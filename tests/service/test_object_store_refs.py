"""s3:// dataset references through real processes (API + worker) against moto's S3 server:
an admin gives a tenant its prefixes; that tenant trains and scores from the bucket, another
tenant (or a reference outside the prefixes) gets a 422 naming dataset.ref, and the worker
checks the prefixes again when it reads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.moto import BUCKET, EVIL_BUCKET, PREFIX, S3Bucket, s3_bucket_fixture  # noqa: F401 - the s3_bucket fixture
from support.stack import Stack, make_stack, wait_for_status

pytestmark = pytest.mark.timeout(300)


def bank_spec(ref: str) -> dict:
    return {
        "task": "binary_classification",
        "dataset": {"ref": ref, "target": "y", "drop": ["duration"], "validation": {"fraction": 0.2, "seed": 0}},
        "model": {"type": "logistic"},
        "training": {"epochs": 1, "batch_size": 256, "seed": 0},
    }


@pytest.fixture(scope="module")
def s3_stack(s3_bucket: S3Bucket, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An embedded API and worker whose environment points s3:// at moto's server."""
    stack = make_stack("embedded", Path(tmp_path_factory.mktemp("s3-stack")), **s3_bucket.env)
    stack.start_api()
    stack.start_worker(queues="cpu")
    yield stack
    stack.stop_all()


def create_tenant(stack: Stack, name: str, **fields: object) -> dict:
    with stack.client() as admin:
        reply = admin.post("/v1/tenants", json={"name": f"{name}-{time.monotonic_ns() % 10**8}", **fields})
    assert reply.status_code == 201, reply.text
    return reply.json()


def dataset_ref_errors(reply) -> list[str]:  # type: ignore[no-untyped-def]
    assert reply.status_code == 422, reply.text
    return [error["message"] for error in reply.json()["errors"] if error["path"] == "dataset.ref"]


def test_an_admin_sets_a_tenants_prefixes_normalised_and_replaces_them(s3_stack: Stack) -> None:
    tenant = create_tenant(s3_stack, "prefixes", dataset_prefixes=[f"S3://{BUCKET}/exports", PREFIX])
    assert tenant["dataset_prefixes"] == [PREFIX]  # ends at a '/', lower-case scheme, once

    with s3_stack.client() as admin:
        path = f"/v1/tenants/{tenant['tenant_id']}"
        bad = admin.patch(path, json={"dataset_prefixes": [f"s3://{BUCKET}/exports/../private/"]})
        assert bad.status_code == 422 and "'..' segment" in bad.text, bad.text
        assert admin.patch(path, json={"dataset_prefixes": None}).status_code == 422
        assert admin.patch(path, json={"max_epochs": 5}).json()["dataset_prefixes"] == [PREFIX]  # left out: stays
        assert admin.patch(path, json={"dataset_prefixes": []}).json()["dataset_prefixes"] == []

    fresh = create_tenant(s3_stack, "no-prefixes")
    assert fresh["dataset_prefixes"] == []


def test_a_tenant_trains_and_scores_from_its_prefix(s3_stack: Stack, s3_bucket: S3Bucket) -> None:
    tenant = create_tenant(s3_stack, "reader", dataset_prefixes=[PREFIX])
    with s3_stack.client(tenant["api_key"]) as client:
        submitted = client.post("/v1/jobs", json=bank_spec(s3_bucket.partitioned))
        assert submitted.status_code == 202, submitted.text
        job = wait_for_status(client, submitted.json()["id"], {"succeeded", "failed", "cancelled"}, stack=s3_stack)
        assert job["status"] == "succeeded", job["error"]
        assert 0.5 < job["best_metrics"]["val_auc"] <= 1.0

        scoring = client.post(f"/v1/jobs/{job['id']}/predictions", json={"dataset": {"ref": s3_bucket.csv}})
        assert scoring.status_code == 202, scoring.text
        scored = wait_for_status(client, scoring.json()["id"], {"succeeded", "failed", "cancelled"}, stack=s3_stack)
        assert scored["status"] == "succeeded", scored["error"]
        assert scored["result"]["rows_scored"] == 3_000


def test_the_dry_run_reads_a_reference_under_the_tenants_prefix(s3_stack: Stack, s3_bucket: S3Bucket) -> None:
    tenant = create_tenant(s3_stack, "dry-runner", dataset_prefixes=[PREFIX])
    with s3_stack.client(tenant["api_key"]) as client:
        reply = client.post("/v1/jobs:validate", json=bank_spec(s3_bucket.parquet))
    assert reply.status_code == 200, reply.text
    assert reply.json()["dataset"]["rows"] == 3_000


@pytest.mark.parametrize("endpoint", ["/v1/jobs", "/v1/jobs:validate"])
def test_a_tenant_without_the_prefix_gets_a_422_naming_dataset_ref(
    s3_stack: Stack, s3_bucket: S3Bucket, endpoint: str
) -> None:
    tenant = create_tenant(s3_stack, "outsider")
    with s3_stack.client(tenant["api_key"]) as client:
        messages = dataset_ref_errors(client.post(endpoint, json=bank_spec(s3_bucket.parquet)))
    assert messages and "outside the tenant's allowed prefixes" in messages[0]


@pytest.mark.parametrize(
    "ref",
    [f"s3://{BUCKET}/private/bank.parquet", PREFIX + "../private/bank.parquet", f"s3://{EVIL_BUCKET}/exports/bank.parquet"],
)
def test_a_reference_outside_the_tenants_prefixes_is_a_422(s3_stack: Stack, ref: str) -> None:
    tenant = create_tenant(s3_stack, "narrow", dataset_prefixes=[PREFIX])
    with s3_stack.client(tenant["api_key"]) as client:
        assert dataset_ref_errors(client.post("/v1/jobs", json=bank_spec(ref)))
        scoring = client.post("/v1/jobs/job_nope/predictions", json={"dataset": {"ref": ref}})
        assert scoring.status_code in (404, 422), scoring.text


def test_the_worker_checks_the_prefixes_again_when_it_reads(s3_stack: Stack, s3_bucket: S3Bucket) -> None:
    """A prefix removed between the submit and the read stops the job: the worker's check is its own."""
    tenant = create_tenant(s3_stack, "revoked", dataset_prefixes=[PREFIX])
    s3_stack.stop("worker")
    try:
        with s3_stack.client(tenant["api_key"]) as client:
            submitted = client.post("/v1/jobs", json=bank_spec(s3_bucket.parquet))
            assert submitted.status_code == 202, submitted.text
        with s3_stack.client() as admin:
            patched = admin.patch(f"/v1/tenants/{tenant['tenant_id']}", json={"dataset_prefixes": []})
            assert patched.status_code == 200, patched.text
    finally:
        s3_stack.start_worker(queues="cpu")
    with s3_stack.client(tenant["api_key"]) as client:
        job = wait_for_status(client, submitted.json()["id"], {"succeeded", "failed", "cancelled"}, stack=s3_stack)
    assert job["status"] == "failed"
    assert job["error"]["type"] == "dataset_error"
    assert "outside the tenant's allowed prefixes" in job["error"]["message"]
