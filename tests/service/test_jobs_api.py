"""The jobs API as a client sees it, against the real service and worker processes."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from support.stack import Stack, create_tenant, wait_for_job, wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def small_spec(**training: object) -> dict:
    return {
        "task": "binary_classification",
        "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
        "model": {"type": "mlp", "hidden": [16]},
        "training": {"epochs": 2, "batch_size": 1024, "log_every_steps": 5, **training},
    }


def waiting_spec() -> dict:
    """A job that stays queued: it needs a GPU worker and this cluster has none."""
    return {**small_spec(), "resources": {"device": "cuda"}}


def long_spec() -> dict:
    return small_spec(epochs=200, batch_size=256)


def test_submit_retried_with_the_same_idempotency_key_gives_the_same_job(stack: Stack, tenant_key: str) -> None:
    with stack.client(tenant_key) as client:
        first = client.post("/v1/jobs", json=waiting_spec(), headers={"Idempotency-Key": "k-1"})
        again = client.post("/v1/jobs", json=waiting_spec(), headers={"Idempotency-Key": "k-1"})
        other = client.post("/v1/jobs", json={**waiting_spec(), "name": "different"}, headers={"Idempotency-Key": "k-1"})
        listed = client.get("/v1/jobs").json()["jobs"]
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"] and again.headers.get("Idempotent-Replayed") == "true"
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["title"]
    assert [j["id"] for j in listed] == [first.json()["id"]]


def test_cancel_while_queued_is_immediate(stack: Stack, tenant_key: str) -> None:
    with stack.client(tenant_key) as client:
        job = client.post("/v1/jobs", json=waiting_spec()).json()
        cancelled = client.post(f"/v1/jobs/{job['id']}/cancel")
        again = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")


def test_cancel_while_running_stops_at_the_next_step_with_a_checkpoint(stack: Stack, tenant_key: str) -> None:
    with stack.client(tenant_key) as client:
        job = client.post("/v1/jobs", json=long_spec()).json()
        running = wait_for_status(client, job["id"], {"running"})
        wait_for_job(client, job["id"], lambda j: j["progress"]["step"] >= 20, "step 20", timeout=120, stack=stack)
        assert running["status"] == "running"
        asked = client.post(f"/v1/jobs/{job['id']}/cancel").json()
        assert asked["status"] in ("cancelling", "cancelled")
        done = wait_for_status(client, job["id"], {"cancelled", "failed", "succeeded"}, timeout=60)
        checkpoints = client.get(f"/v1/jobs/{job['id']}/checkpoints").json()["checkpoints"]
    assert done["status"] == "cancelled", done["error"]
    assert [e["to_status"] for e in done["history"]][-2:] == ["cancelling", "cancelled"]
    assert checkpoints and done["result"]["stop_reason"] == "cancelled"


def test_status_answers_304_when_nothing_changed(stack: Stack, tenant_key: str) -> None:
    with stack.client(tenant_key) as client:
        job = client.post("/v1/jobs", json=waiting_spec()).json()
        first = client.get(f"/v1/jobs/{job['id']}")
        unchanged = client.get(f"/v1/jobs/{job['id']}", headers={"If-None-Match": first.headers["ETag"]})
        client.post(f"/v1/jobs/{job['id']}/cancel")
        changed = client.get(f"/v1/jobs/{job['id']}", headers={"If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert changed.status_code == 200 and changed.json()["status"] == "cancelled"


def test_event_stream_delivers_state_changes_and_metric_points(stack: Stack, tenant_key: str) -> None:
    seen: dict[str, list] = {"state": [], "metrics": [], "checkpoint": []}
    with stack.client(tenant_key) as client:
        job = client.post("/v1/jobs", json=small_spec(epochs=3)).json()
        with client.stream("GET", f"/v1/jobs/{job['id']}/events", timeout=120) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            event = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event in seen:
                    seen[event].append(json.loads(line[6:]))
                elif line.startswith("data: ") and event == "end":
                    break
    states = [s["to_status"] for s in seen["state"]]
    assert states[0] == "queued" and "running" in states and states[-1] == "succeeded"
    points = [p for batch in seen["metrics"] for p in batch["points"]]
    assert {"loss", "val_auc"} <= {p["name"] for p in points}
    assert len({p["seq"] for p in points}) == len(points)
    assert seen["checkpoint"]


def test_downsampled_metrics_span_the_whole_history_and_keep_the_minimum(stack: Stack, tenant_key: str) -> None:
    with stack.client(tenant_key) as client:
        job = client.post("/v1/jobs", json=small_spec(epochs=4, batch_size=256, log_every_steps=1)).json()
        wait_for_status(client, job["id"], {"succeeded"})
        full = [p for p in client.get(f"/v1/jobs/{job['id']}/metrics", params={"names": "loss", "limit": 10000}).json()["points"]]
        sampled = client.get(f"/v1/jobs/{job['id']}/metrics", params={"names": "loss", "max_points": 20}).json()["series"]["loss"]
    assert len(full) > 400 and len(sampled) <= 20
    assert sampled[0]["step"] == full[0]["step"] and sampled[-1]["step"] == full[-1]["step"]
    assert min(p["value"] for p in sampled) == min(p["value"] for p in full)


def test_dry_run_catches_a_missing_column_and_queues_nothing(stack: Stack, tenant_key: str) -> None:
    spec = small_spec()
    spec["dataset"]["target"] = "subscribed"
    with stack.client(tenant_key) as client:
        report = client.post("/v1/jobs:validate", json=spec)
        good = client.post("/v1/jobs:validate", json=small_spec())
        jobs = client.get("/v1/jobs").json()["jobs"]
    assert report.status_code == 422
    problem = report.json()
    assert "subscribed" in problem["detail"] and problem["errors"][0]["column"] == "subscribed"
    assert good.status_code == 200 and good.json()["estimate"]["total_steps"] == 2 * 33  # 32,950 rows / 1,024
    assert good.json()["estimate"]["parameters"] > 0 and jobs == []


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"model": {"type": "gradient_boosting"}}, "model", "mlp"),
        ({"optimizer": {"lr": -0.1}}, "optimizer.lr", "greater than 0"),
        ({"optimizer": {"beta2": 1.0}}, "optimizer.beta2", "less than 1"),
        ({"dataset": {"ref": "dataset:ds_nope", "target": "y"}}, "dataset.ref", "no dataset"),
        ({"dataset": {"ref": "file:/etc/passwd", "target": "y"}}, "dataset.ref", "outside the allowed roots"),
        ({"trainng": {"epochs": 3}}, "trainng", "Extra inputs"),
    ],
)
def test_a_bad_spec_is_a_422_naming_the_field(stack: Stack, tenant_key: str, change: dict, path: str, words: str) -> None:
    with stack.client(tenant_key) as client:
        reply = client.post("/v1/jobs", json={**small_spec(), **change})
    assert reply.status_code == 422, reply.text
    problem = reply.json()
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert any(e["path"].startswith(path) for e in problem["errors"]), problem
    assert words in problem["detail"]


def test_a_bad_dataset_fails_the_job_with_the_reason_and_the_worker_keeps_working(stack: Stack, tenant_key: str) -> None:
    spec = small_spec()
    spec["dataset"]["target"] = "subscribed"  # no such column: only the worker finds out
    with stack.client(tenant_key) as client:
        bad = client.post("/v1/jobs", json=spec).json()
        failed = wait_for_status(client, bad["id"], {"failed", "succeeded"})
        good = client.post("/v1/jobs", json=small_spec()).json()
        succeeded = wait_for_status(client, good["id"], {"failed", "succeeded"})
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "dataset_error" and failed["error"]["failure_class"] == "user"
    assert "subscribed" in failed["error"]["message"] and failed["error"]["column"] == "subscribed"
    assert succeeded["status"] == "succeeded"


def test_uploads_over_the_limit_or_malformed_are_refused(stack: Stack, tenant_key: str) -> None:
    ragged = b"a,b,c\n1,2,3\n4,5\n6,7,8\n"
    with stack.client(tenant_key) as client:
        malformed = client.post("/v1/datasets", files={"file": ("bad.csv", ragged, "text/csv")})
        huge = client.post("/v1/datasets", files={"file": ("big.csv", b"x,y\n" + b"1,2\n" * 5_000_000, "text/csv")})
    assert malformed.status_code == 422 and "row 2" in malformed.json()["detail"]
    assert huge.status_code == 413 and "limit" in huge.json()["detail"]


def test_a_wrong_key_is_401_and_another_tenants_job_is_404(stack: Stack, tenant_key: str) -> None:
    with stack.client(tenant_key) as client:
        job = client.post("/v1/jobs", json=waiting_spec()).json()
    with stack.client("adm_not-a-key") as stranger:
        denied = stranger.get("/v1/jobs")
    with stack.client() as admin:
        other_key = admin.post("/v1/tenants", json={"name": f"other-{job['id'][-6:]}"}).json()["api_key"]
    with stack.client(other_key) as other:
        hidden = other.get(f"/v1/jobs/{job['id']}")
        cancel = other.post(f"/v1/jobs/{job['id']}/cancel")
        listed = other.get("/v1/jobs").json()["jobs"]
    assert denied.status_code == 401 and denied.headers["www-authenticate"].startswith("Bearer")
    assert hidden.status_code == 404 and cancel.status_code == 404 and listed == []


def test_health_and_readiness(stack: Stack) -> None:
    assert httpx.get(stack.base_url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(stack.base_url + "/readyz").json()
    assert ready["database"] == ready["broker"] == "ok"


def test_the_same_message_delivered_twice_runs_the_job_once(stack: Stack, tenant_key: str) -> None:
    from adamant.queue import make_celery, publish_job
    from adamant.settings import Settings

    settings = Settings(home=stack.home, database_url_override=stack.env.get("DATABASE_URL"),
                        broker_url_override=stack.env.get("BROKER_URL"), broker_prefix=stack.env.get("ADAMANT_BROKER_PREFIX"))
    broker = make_celery(settings)
    with stack.client(tenant_key) as client:
        job = client.post("/v1/jobs", json=small_spec()).json()
        for _ in range(2):  # a redelivery and a stray duplicate, as Redis and at-least-once brokers do
            publish_job(broker, job["id"], "cpu")
        done = wait_for_status(client, job["id"], {"succeeded", "failed"})
        time.sleep(2)  # let the duplicates reach the worker
        after = client.get(f"/v1/jobs/{job['id']}").json()
    assert done["status"] == "succeeded" and after["attempt"] == 1
    assert [e["to_status"] for e in after["history"]].count("running") == 1
    assert after["updated_at"] == done["updated_at"]


def test_server_owned_fields_cannot_be_set_by_a_client(stack: Stack, tenant_key: str) -> None:
    with stack.client(tenant_key) as client:
        forged = client.post("/v1/jobs", json={**small_spec(), "status": "succeeded", "tenant_id": "tnt_other", "attempt": 7})
    assert forged.status_code == 422
    assert {"status", "tenant_id", "attempt"} <= {e["path"] for e in forged.json()["errors"]}



def test_an_admin_sets_a_tenants_limits_and_the_service_holds_them(stack: Stack) -> None:
    with stack.client() as admin:
        created = admin.post("/v1/tenants", json={"name": f"limited-{uuid.uuid4().hex[:8]}", "max_concurrent_jobs": 2,
                                                  "max_epochs": 5, "max_run_time_s": 600, "max_artifact_bytes": 10_000_000})
        bad = admin.post("/v1/tenants", json={"name": "too-short-a-run", "max_run_time_s": 5})
    assert created.status_code == 201, created.text
    tenant = created.json()
    assert (tenant["max_concurrent_jobs"], tenant["max_epochs"], tenant["max_run_time_s"], tenant["max_artifact_bytes"]) == (2, 5, 600, 10_000_000)
    assert bad.status_code == 422 and "max_run_time_s" in bad.text
    with stack.client(tenant["api_key"]) as client:
        too_long = client.post("/v1/jobs", json={**waiting_spec(), "training": {"epochs": 6}})
        not_admin = client.patch(f"/v1/tenants/{tenant['tenant_id']}", json={"max_epochs": 1000})
    assert too_long.status_code == 422 and "training.epochs" in too_long.text and "at most 5 epochs" in too_long.text
    assert not_admin.status_code == 403

    with stack.client() as admin:
        raised = admin.patch(f"/v1/tenants/{tenant['tenant_id']}", json={"max_epochs": 10, "max_artifact_bytes": None})
        nulled = admin.patch(f"/v1/tenants/{tenant['tenant_id']}", json={"max_epochs": None})
    assert raised.status_code == 200, raised.text
    assert (raised.json()["max_epochs"], raised.json()["max_artifact_bytes"], raised.json()["max_run_time_s"]) == (10, None, 600)
    assert nulled.status_code == 422 and "max_epochs" in nulled.text
    with stack.client(tenant["api_key"]) as client:
        accepted = client.post("/v1/jobs", json={**waiting_spec(), "training": {"epochs": 6}})
    assert accepted.status_code == 202, accepted.text


def test_a_wait_that_expires_reports_the_jobs_status_events_and_logs(stack: Stack, tenant_key: str) -> None:
    with stack.client(tenant_key) as client:
        job = client.post("/v1/jobs", json=waiting_spec()).json()
        with pytest.raises(AssertionError) as expired:
            wait_for_status(client, job["id"], {"succeeded"}, timeout=0.5, stack=stack)
    report = str(expired.value)
    assert f"job {job['id']}: status queued, attempt 0" in report
    assert "None -> queued submitted" in report and "last log lines:" in report
    assert "--- worker.log (tail) ---" in report and "--- api.log (tail) ---" in report


def test_a_chunked_upload_over_the_cap_is_refused_413_while_it_streams(stack: Stack, tenant_key: str) -> None:
    """No Content-Length to refuse up front: the service must count the bytes as they arrive."""
    cap = int(stack.env["ADAMANT_UPLOAD_MAX_BYTES"])
    boundary = "adamant-chunked"
    sent = 0

    def body():  # type: ignore[no-untyped-def]
        nonlocal sent
        yield (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
               f"Content-Type: text/csv\r\n\r\nx,y\r\n").encode()
        row = b"1,2\n" * 65_536  # 256 KiB
        while sent < 8 * cap:  # far past the cap: a service reading to the end would take them all
            sent += len(row)
            yield row
        yield f"\r\n--{boundary}--\r\n".encode()

    with stack.client(tenant_key) as client:
        reply = client.post("/v1/datasets", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        datasets = client.get("/v1/datasets").json()["datasets"]
    assert reply.request.headers.get("transfer-encoding") == "chunked" and "content-length" not in reply.request.headers
    assert reply.status_code == 413, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json") and str(cap) in reply.json()["detail"]
    assert sent < 2 * cap, f"the client got to send {sent} bytes before the 413: the body was read past the cap"
    assert datasets == []


def test_a_progress_only_change_gets_a_new_etag(stack: Stack, tenant_key: str) -> None:
    with stack.client(tenant_key) as client:
        job = client.post("/v1/jobs", json=long_spec()).json()
        first = wait_for_job(client, job["id"], lambda j: j["status"] == "running" and j["progress"]["step"] >= 1,
                             "a first step", timeout=120, stack=stack)
        etag = client.get(f"/v1/jobs/{job['id']}").headers["ETag"]
        listed_etag = client.get("/v1/jobs").headers["ETag"]
        wait_for_job(client, job["id"], lambda j: j["progress"]["step"] > first["progress"]["step"] + 5, "more steps",
                     timeout=120, stack=stack)
        moved = client.get(f"/v1/jobs/{job['id']}", headers={"If-None-Match": etag})
        listed = client.get("/v1/jobs", headers={"If-None-Match": listed_etag})
        client.post(f"/v1/jobs/{job['id']}/cancel")
    assert moved.status_code == 200 and moved.json()["status"] == "running", moved.status_code
    assert moved.json()["progress"]["step"] > first["progress"]["step"] and moved.headers["ETag"] != etag
    data = moved.json()["progress"]["data"]  # the data phase's last numbers stay once training reports
    assert data["phase"] in ("ready", "from cache") and data["rows_read"] > 0 and data["rows_read"] == data["rows_total"]
    assert listed.status_code == 200 and listed.headers["ETag"] != listed_etag


def test_a_submit_over_the_tenants_concurrency_limit_is_a_429_with_retry_after(stack: Stack) -> None:
    key = create_tenant(stack, f"one-at-a-time-{uuid.uuid4().hex[:8]}", max_concurrent_jobs=1)
    with stack.client(key) as client:
        first = client.post("/v1/jobs", json=waiting_spec())
        refused = client.post("/v1/jobs", json=waiting_spec())
        client.post(f"/v1/jobs/{first.json()['id']}/cancel")
        after_cancel = client.post("/v1/jobs", json=waiting_spec())
        client.post(f"/v1/jobs/{after_cancel.json()['id']}/cancel")
    assert first.status_code == 202, first.text
    assert refused.status_code == 429 and refused.headers["content-type"].startswith("application/problem+json")
    assert int(refused.headers["Retry-After"]) > 0 and "max_concurrent_jobs" in refused.json()["detail"]
    assert after_cancel.status_code == 202, after_cancel.text


def test_a_submit_over_the_artifact_quota_with_nothing_to_reclaim_is_a_409(stack: Stack) -> None:
    with stack.client() as admin:
        tenant = admin.post("/v1/tenants", json={"name": f"quota-{uuid.uuid4().hex[:8]}", "max_artifact_bytes": 1}).json()
    with stack.client(tenant["api_key"]) as client:
        trained = client.post("/v1/jobs", json=small_spec(epochs=1)).json()
        done = wait_for_status(client, trained["id"], {"succeeded", "failed"}, stack=stack)
        refused = client.post("/v1/jobs", json=waiting_spec())
        jobs = client.get("/v1/jobs").json()["jobs"]
    assert done["status"] == "succeeded", done["error"]
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["type"].endswith("artifact-quota-exceeded") and "max_artifact_bytes" in problem["detail"]
    assert [j["id"] for j in jobs] == [trained["id"]]


def test_downsampling_to_fewer_points_than_the_store_allows_is_a_422_naming_the_field(stack: Stack, tenant_key: str) -> None:
    # Found by the fuzz run: ?max_points=2 passed the route's bound (2) and failed the store's (4) as a plain 500.
    with stack.client(tenant_key) as client:
        job = client.post("/v1/jobs", json=waiting_spec()).json()
        reply = client.get(f"/v1/jobs/{job['id']}/metrics", params={"max_points": 2})
        client.post(f"/v1/jobs/{job['id']}/cancel")
    assert reply.status_code == 422, reply.text
    assert [e["path"] for e in reply.json()["errors"]] == ["query.max_points"]
