"""Batch scoring on real processes: train, score a whole table as a job, read its file and report.

Runs on the embedded default (SQLite, filesystem broker) and on PostgreSQL + Redis. One short
training job per stack is shared by the tests of this module (its own tenant).
"""

from __future__ import annotations

import io
import time

import pandas as pd
import pytest

from adamant.datasets import get_builtin
from support.stack import Stack, create_tenant, wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRAIN_SPEC = {
    "name": "bank propensity to score",
    "task": "binary_classification",
    "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"], "validation": {"fraction": 0.2, "seed": 0}},
    "model": {"type": "logistic"},
    "optimizer": {"lr": 0.01},
    "training": {"epochs": 1, "batch_size": 2048, "seed": 0},
}


def bank_with_customer_ids() -> pd.DataFrame:
    frame = get_builtin("bank-marketing").load()
    frame.insert(0, "customer_id", [f"cust-{i:06d}" for i in range(len(frame))])
    return frame


@pytest.fixture(scope="module")
def trained(stack: Stack) -> dict:
    """A tenant with a succeeded bank-marketing model and the same file uploaded with customer ids."""
    key = create_tenant(stack, f"scoring-{stack.kind}-{time.monotonic_ns() % 10**8}")
    frame = bank_with_customer_ids()
    with stack.client(key) as client:
        job = client.post("/v1/jobs", json=TRAIN_SPEC)
        assert job.status_code == 202, job.text
        upload = client.post("/v1/datasets", files={"file": ("bank.csv", frame.to_csv(index=False).encode(), "text/csv")})
        assert upload.status_code == 201, upload.text
        finished = wait_for_status(client, job.json()["id"], {"succeeded", "failed", "cancelled"}, timeout=120)
    assert finished["status"] == "succeeded", finished["error"]
    return {"key": key, "job_id": finished["id"], "frame": frame, "ref": upload.json()["ref"]}


def test_batch_scoring_writes_one_score_per_row_in_order_with_drift_and_gains(stack: Stack, trained: dict) -> None:
    model_job, frame = trained["job_id"], trained["frame"]
    with stack.client(trained["key"]) as client:
        submitted = client.post(
            f"/v1/jobs/{model_job}/predictions",
            json={"dataset": {"ref": trained["ref"]}, "id_column": "customer_id"},
            headers={"Idempotency-Key": "score-1"},
        )
        assert submitted.status_code == 202, submitted.text
        scoring = submitted.json()
        assert submitted.headers["Location"] == f"/v1/jobs/{scoring['id']}"
        assert (scoring["kind"], scoring["parent_id"], scoring["status"]) == ("score", model_job, "queued")
        assert scoring["task"] == "binary_classification"
        again = client.post(f"/v1/jobs/{model_job}/predictions", json={"dataset": {"ref": trained["ref"]}, "id_column": "customer_id"},
                            headers={"Idempotency-Key": "score-1"})
        assert again.json()["id"] == scoring["id"]

        done = wait_for_status(client, scoring["id"], {"succeeded", "failed", "cancelled"}, timeout=90)
        assert done["status"] == "succeeded", done["error"]
        result = done["result"]
        assert result["rows_scored"] == result["output_rows"] == len(frame)
        assert result["columns"] == ["customer_id", "score", "label"]
        assert result["drift"]["verdict"] == "stable" and result["evaluation"]["auc"] > 0.6
        assert [j["id"] for j in client.get(f"/v1/jobs/{model_job}/predictions").json()["jobs"]] == [scoring["id"]]

        download = client.get(result["links"]["file"])
        assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
        assert download.headers["x-content-sha256"] == result["sha256"]
        scores = pd.read_csv(io.BytesIO(download.content))
        assert len(scores) == len(frame)
        assert scores["customer_id"].tolist() == frame["customer_id"].tolist()
        assert scores["score"].between(0, 1).all() and scores["score"].nunique() > 100

        report = client.get(result["links"]["report"]).json()
        drift = report["drift"]
        assert drift["rows"] == len(frame) and drift["reference_rows"] == round(0.8 * len(frame))
        psi = {feature["column"]: feature["psi"] for feature in drift["features"]}
        assert set(psi) == set(frame.columns) - {"customer_id", "duration", "y"}
        assert max(psi.values()) < 0.01  # the same data the model was trained on
        assert drift["score"]["psi"] < 0.05
        gains = report["evaluation"]["gains"]
        assert [row["decile"] for row in gains] == list(range(1, 11))
        assert sum(row["responders"] for row in gains) == int((frame["y"] == "yes").sum())
        assert gains[-1]["cumulative_gain"] == pytest.approx(1.0)
        assert gains[0]["lift"] > 1.5  # the model ranks: responders crowd the top decile


def test_scoring_a_builtin_table_to_parquet_numbers_the_rows(stack: Stack, trained: dict) -> None:
    with stack.client(trained["key"]) as client:
        submitted = client.post(f"/v1/jobs/{trained['job_id']}/predictions",
                                json={"dataset": {"ref": "builtin:bank-marketing"}, "format": "parquet"})
        assert submitted.status_code == 202, submitted.text
        done = wait_for_status(client, submitted.json()["id"], {"succeeded", "failed", "cancelled"}, timeout=90)
        assert done["status"] == "succeeded", done["error"]
        download = client.get(f"/v1/jobs/{done['id']}/predictions/file")
        assert download.headers["content-type"] == "application/vnd.apache.parquet"
        scores = pd.read_parquet(io.BytesIO(download.content))
        assert scores["row"].tolist() == list(range(1, len(trained["frame"]) + 1))


def test_scoring_a_job_that_has_not_succeeded_is_a_conflict(stack: Stack, trained: dict) -> None:
    with stack.client(trained["key"]) as client:
        # No GPU worker in these stacks: a cuda job stays queued.
        queued = client.post("/v1/jobs", json={**TRAIN_SPEC, "resources": {"device": "cuda"}}).json()
        reply = client.post(f"/v1/jobs/{queued['id']}/predictions", json={"dataset": {"ref": "builtin:bank-marketing"}})
        client.post(f"/v1/jobs/{queued['id']}/cancel")
        assert reply.status_code == 409 and reply.headers["content-type"] == "application/problem+json"
        assert "succeeded" in reply.json()["detail"]
        files = client.get(f"/v1/jobs/{trained['job_id']}/predictions/file")  # a training job has no output file
        assert files.status_code == 404
        missing = client.post("/v1/jobs/job_nope/predictions", json={"dataset": {"ref": "builtin:bank-marketing"}})
        assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"dataset": {"ref": "dataset:ds_0000000000000000000000000"}}, "dataset.ref"),
        ({"dataset": {"ref": "builtin:bank-marketting"}}, "dataset.ref"),
        ({}, "dataset"),
        ({"dataset": {"ref": "builtin:bank-marketing"}, "format": "xlsx"}, "format"),
    ],
)
def test_a_dataset_that_cannot_be_scored_is_refused_naming_the_field(stack: Stack, trained: dict, body: dict, path: str) -> None:
    with stack.client(trained["key"]) as client:
        reply = client.post(f"/v1/jobs/{trained['job_id']}/predictions", json=body)
    assert reply.status_code in (404, 422), reply.text
    assert path in [error["path"] for error in reply.json()["errors"]]


def test_an_id_column_the_upload_lacks_is_refused_up_front(stack: Stack, trained: dict) -> None:
    with stack.client(trained["key"]) as client:
        reply = client.post(f"/v1/jobs/{trained['job_id']}/predictions",
                            json={"dataset": {"ref": trained["ref"]}, "id_column": "contact_id"})
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["path"] == "id_column"
