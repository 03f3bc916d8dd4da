"""The whole path a user takes, on real processes: upload, submit, poll, metrics, checkpoint, predict.

Runs twice: on the embedded default (SQLite, filesystem broker) and on PostgreSQL + Redis.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time

import pytest

from adamant.datasets import get_builtin
from adamant.datasets.catalogue import BANK_MARKETING_FILE
from adamant.preparation import prepare_training_data
from adamant.spec import JobSpec
from support.stack import Stack, job_report
from worker.engine.metrics import auc

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def bank_csv_bytes() -> bytes:
    return BANK_MARKETING_FILE.read_bytes()


def bank_spec(ref: str) -> dict:
    return {
        "name": "e2e bank propensity",
        "task": "binary_classification",
        "dataset": {"ref": ref, "target": "y", "drop": ["duration"], "validation": {"fraction": 0.2, "seed": 0}},
        "model": {"type": "mlp", "hidden": [32, 16]},
        "optimizer": {"lr": 0.002},
        "training": {"epochs": 3, "batch_size": 512, "seed": 0, "log_every_steps": 5},
        "checkpointing": {"keep_last": 2},
    }


def test_upload_train_poll_download_and_predict(stack: Stack, tenant_key: str) -> None:
    with stack.client(tenant_key) as client:
        upload = client.post("/v1/datasets", files={"file": ("bank.csv", bank_csv_bytes(), "text/csv")})
        assert upload.status_code == 201, upload.text
        dataset = upload.json()
        assert dataset["rows"] == 41188 and dataset["ref"].startswith("dataset:")

        submitted = client.post("/v1/jobs", json=bank_spec(dataset["ref"]), headers={"Idempotency-Key": "e2e-1"})
        assert submitted.status_code == 202, submitted.text
        assert submitted.headers["Location"] == f"/v1/jobs/{submitted.json()['id']}"
        job_id = submitted.json()["id"]

        # Poll status and metrics incrementally until the job ends; every point arrives once.
        seen: dict[int, dict] = {}
        cursor, status = 0, "queued"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            page = client.get(f"/v1/jobs/{job_id}/metrics", params={"after": cursor}).json()
            for point in page["points"]:
                assert point["seq"] not in seen, "a metric point arrived twice"
                seen[point["seq"]] = point
            assert page["next_cursor"] >= cursor
            cursor = page["next_cursor"]
            status = page["job_status"]
            if status in ("succeeded", "failed", "cancelled") and not page["points"]:
                break
            time.sleep(0.3)
        job = client.get(f"/v1/jobs/{job_id}").json()
        assert job["status"] == "succeeded", job_report(client, job_id, stack=stack)
        everything = client.get(f"/v1/jobs/{job_id}/metrics", params={"after": 0, "limit": 10000}).json()["points"]
        assert sorted(seen) == [p["seq"] for p in everything]
        losses = [p["step"] for p in everything if p["name"] == "loss"]
        assert losses == sorted(set(losses)) and len(losses) >= 10
        assert [e["to_status"] for e in job["history"]][-2:] == ["running", "succeeded"]
        assert job["progress"]["fraction"] == 1.0 and job["attempt"] == 1

        # The best checkpoint downloads intact: the manifest's sha256 is the listed one.
        checkpoints = client.get(f"/v1/jobs/{job_id}/checkpoints").json()["checkpoints"]
        best = next(c for c in checkpoints if c["is_best"])
        download = client.get(best["download"])
        assert download.status_code == 200
        with tarfile.open(fileobj=io.BytesIO(download.content)) as tar:
            files = {m.name.split("/")[-1]: tar.extractfile(m).read() for m in tar.getmembers()}
        assert hashlib.sha256(files["manifest.json"]).hexdigest() == best["sha256"]
        manifest = json.loads(files["manifest.json"])
        for name, entry in manifest["files"].items():
            assert hashlib.sha256(files[name]).hexdigest() == entry["sha256"]

        # Predictions on the validation rows reproduce the AUC the job reported.
        spec = JobSpec.model_validate(bank_spec("builtin:bank-marketing"))
        frame = get_builtin("bank-marketing").load()
        validation = frame.iloc[prepare_training_data(spec, frame).val_rows]
        rows = json.loads(validation.drop(columns=["y"]).to_json(orient="records"))
        predicted = client.post(f"/v1/jobs/{job_id}/predict", json={"rows": rows})
        assert predicted.status_code == 200, predicted.text
        scores = [p["score"] for p in predicted.json()["predictions"]]
        assert len(scores) == len(validation)
        reported = job["best_metrics"]["val_auc"]
        assert auc((validation["y"] == "yes").to_numpy(), scores) == pytest.approx(reported, abs=1e-6)
