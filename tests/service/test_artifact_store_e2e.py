"""Checkpoints through an fsspec artifact store, on real processes: the worker uploads each one to
ADAMANT_ARTIFACTS_URL and the service serves downloads from there, not from the worker's folder.

fsspec's memory:// cannot cross processes, so this uses a file:// URL on a folder apart from
the local artifact root (the same code path as s3://, through fsspec). The stack also logs
JSON (ADAMANT_LOG_FORMAT=json), as containers do: the worker's and the trainer's lines name the job.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.data import synthetic_customers
from support.stack import Stack, create_tenant, job_report, make_stack, wait_for_status, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROW = {"age": 41, "job": "admin.", "marital": "married", "education": "university.degree", "default": "no",
       "housing": "yes", "loan": "no", "contact": "cellular", "month": "may", "day_of_week": "mon", "campaign": 1,
       "pdays": 999, "previous": 0, "poutcome": "nonexistent", "emp.var.rate": -1.8, "cons.price.idx": 92.893,
       "cons.conf.idx": -46.2, "euribor3m": 1.299, "nr.employed": 5099.1}
SPEC = {
    "task": "binary_classification",
    "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
    "model": {"type": "mlp", "hidden": [8]},
    "training": {"epochs": 2, "batch_size": 2048, "log_every_steps": 4},
    "checkpointing": {"keep_last": 1},
}


@pytest.fixture(scope="module")
def bucket_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path]]:
    home = tmp_path_factory.mktemp("stack-fsspec")
    bucket = tmp_path_factory.mktemp("bucket") / "adamant"
    stack = make_stack(
        "embedded", home, ADAMANT_ARTIFACTS_URL=bucket.as_uri(), ADAMANT_LOG_FORMAT="json",
        ADAMANT_LEASE_TTL_S="30",  # a loaded CI machine can take 10 s to import torch
    )
    try:
        stack.start_api()
        stack.start_worker(queues="cpu")
        yield stack, bucket
    finally:
        stack.stop_all()


def test_checkpoints_are_uploaded_to_the_store_and_downloaded_from_it(bucket_stack: tuple[Stack, Path]) -> None:
    stack, bucket = bucket_stack
    key = create_tenant(stack, "fsspec-user")
    with stack.client(key) as client:
        job = client.post("/v1/jobs", json=SPEC).json()
        finished = wait_for_status(client, job["id"], {"succeeded", "failed", "cancelled"})
        assert finished["status"] == "succeeded", finished["error"]
        checkpoints = client.get(f"/v1/jobs/{job['id']}/checkpoints").json()["checkpoints"]
        best = next(c for c in checkpoints if c["is_best"])
        assert best["files"], "the listing reads each manifest from the store"

        # Every live checkpoint is in the bucket; the pruned ones are gone from it too.
        uploaded = sorted(p.name for p in (bucket / "jobs" / job["id"] / "run" / "checkpoints").iterdir())
        assert uploaded == sorted({f"step-{c['step']:08d}" for c in checkpoints})

        # The worker's local copies vanish (a worker machine replaced): downloads still work,
        # and predict fetches the checkpoint from the store (an API on another host).
        shutil.rmtree(stack.home / "artifacts" / "jobs" / job["id"] / "run" / "checkpoints")
        download = client.get(best["download"])
        scored = client.post(f"/v1/jobs/{job['id']}/predict", json={"rows": [ROW]})
    assert download.status_code == 200, download.text
    assert scored.status_code == 200, scored.text
    assert 0.0 <= scored.json()["predictions"][0]["score"] <= 1.0
    with tarfile.open(fileobj=io.BytesIO(download.content)) as tar:
        files = {m.name.split("/")[-1]: tar.extractfile(m).read() for m in tar.getmembers()}
    assert hashlib.sha256(files["manifest.json"]).hexdigest() == best["sha256"]


def test_a_job_resumed_on_a_host_without_its_checkpoints_resumes_from_the_store(bucket_stack: tuple[Stack, Path]) -> None:
    stack, _ = bucket_stack
    key = create_tenant(stack, "fsspec-resume")
    spec = {**SPEC, "training": {**SPEC["training"], "epochs": 40, "batch_size": 512}, "checkpointing": {"every_epochs": 1, "keep_last": 2}}
    with stack.client(key) as client:
        job = client.post("/v1/jobs", json=spec).json()
        wait_for_status(client, job["id"], {"running"})
        wait_until(lambda: client.get(f"/v1/jobs/{job['id']}/checkpoints").json()["checkpoints"], "a first checkpoint",
                   120, lambda: job_report(client, job["id"], stack=stack))
        client.post(f"/v1/jobs/{job['id']}/cancel")
        cancelled = wait_for_status(client, job["id"], {"cancelled", "failed", "succeeded"}, timeout=120)
        assert cancelled["status"] == "cancelled", cancelled["error"]
        saved = max(c["step"] for c in client.get(f"/v1/jobs/{job['id']}/checkpoints").json()["checkpoints"])
        # Another worker host: nothing of this job's run on its disk.
        shutil.rmtree(stack.home / "artifacts" / "jobs" / job["id"] / "run" / "checkpoints")
        resumed = client.post(f"/v1/jobs/{job['id']}/resume")
        assert resumed.status_code == 202, resumed.text
        done = wait_for_status(client, job["id"], {"succeeded", "failed", "cancelled"}, timeout=300)
    assert done["status"] == "succeeded", done["error"]
    assert done["result"]["resumed_from_step"] == saved


def test_an_uploaded_dataset_lives_in_the_store_until_deleted(bucket_stack: tuple[Stack, Path]) -> None:
    stack, bucket = bucket_stack
    key = create_tenant(stack, "fsspec-data")
    table = synthetic_customers(rows=1500).to_csv(index=False).encode()
    with stack.client(key) as client:
        dataset = client.post("/v1/datasets", files={"file": ("customers.csv", table, "text/csv")}).json()
        stored = [p for p in bucket.rglob("customers.csv")]
        assert len(stored) == 1 and stored[0].read_bytes() == table
        # A worker host without the API's folder: the trainer fetches the table from the store.
        local = next((stack.home / "artifacts" / "datasets").rglob("customers.csv"))
        local.unlink()
        spec = {**SPEC, "dataset": {"ref": dataset["ref"], "target": "converted", "drop": ["customer_id"]}}
        job = client.post("/v1/jobs", json=spec).json()
        done = wait_for_status(client, job["id"], {"succeeded", "failed", "cancelled"})
        deleted = client.delete(f"/v1/datasets/{dataset['id']}")
    assert done["status"] == "succeeded", done["error"]
    assert deleted.status_code == 204
    assert not list(bucket.rglob("customers.csv")) and not list((stack.home / "artifacts" / "datasets").rglob("customers.csv"))


def test_batch_scoring_on_a_host_without_the_model_or_its_outputs_uses_the_store(bucket_stack: tuple[Stack, Path]) -> None:
    stack, _ = bucket_stack
    key = create_tenant(stack, "fsspec-scoring")
    artifacts = stack.home / "artifacts" / "jobs"
    with stack.client(key) as client:
        model = client.post("/v1/jobs", json=SPEC).json()
        trained = wait_for_status(client, model["id"], {"succeeded", "failed", "cancelled"})
        assert trained["status"] == "succeeded", trained["error"]
        shutil.rmtree(artifacts / model["id"] / "run")  # trained on another host: checkpoints, reference profile
        scoring = client.post(f"/v1/jobs/{model['id']}/predictions", json={"dataset": {"ref": "builtin:bank-marketing"}}).json()
        done = wait_for_status(client, scoring["id"], {"succeeded", "failed", "cancelled"}, timeout=120)
        assert done["status"] == "succeeded", done["error"]
        for folder in (artifacts / scoring["id"]).iterdir():  # scored on another host: the API reads the store
            if folder.is_dir():
                shutil.rmtree(folder)
        download = client.get(done["result"]["links"]["file"])
        report = client.get(done["result"]["links"]["report"])
    assert done["result"]["drift"] is not None and done["result"]["rows_scored"] == 41188
    assert download.status_code == 200 and download.headers["x-content-sha256"] == done["result"]["sha256"]
    assert report.status_code == 200, report.text


def json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_worker_and_trainer_log_json_lines_that_name_the_job(bucket_stack: tuple[Stack, Path]) -> None:
    stack, _ = bucket_stack
    key = create_tenant(stack, "json-logs")
    with stack.client(key) as client:
        job = client.post("/v1/jobs", json={**SPEC, "training": {**SPEC["training"], "epochs": 1}}).json()
        finished = wait_for_status(client, job["id"], {"succeeded", "failed", "cancelled"})
    assert finished["status"] == "succeeded", finished["error"]

    worker = [line for line in json_lines(stack.logs["worker"]) if line.get("job_id") == job["id"]]
    assert any(line["logger"] == "adamant.supervisor" and "claimed" in line["message"] for line in worker)
    trainer_log = stack.home / "artifacts" / "jobs" / job["id"] / f"trainer-attempt-{finished['attempt']}.log"
    trainer = json_lines(trainer_log)
    assert trainer and all(line["process"] == "trainer" for line in trainer)
    assert {(line["job_id"], line["attempt"]) for line in trainer} == {(job["id"], finished["attempt"])}
    assert len({line["tenant_id"] for line in trainer}) == 1 and trainer[0]["tenant_id"].startswith("tnt_")
