"""Domain errors become problem+json once, in service/api/problems.py: the status says whether
waiting helps. Issue 10 (tidy): a permanent limit was a 429 with Retry-After like the
concurrency cap, telling clients to retry something that can never pass."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from adamant.store.exceptions import LimitExceeded, StoreUnavailable
from service.api import problems


def app_raising(error: Exception) -> TestClient:
    app = FastAPI()
    problems.install(app)

    @app.post("/raise")
    def _raise() -> None:
        raise error

    return TestClient(app)


def test_the_concurrency_cap_is_a_429_that_says_when_to_come_back() -> None:
    reply = app_raising(LimitExceeded("max_concurrent_jobs", 3, 2)).post("/raise")
    assert reply.status_code == 429 and reply.headers["retry-after"] == "5"
    assert reply.json()["type"].endswith("limit-exceeded")


@pytest.mark.parametrize(("limit", "path"), [("max_epochs", "training.epochs")])
def test_a_permanent_limit_is_a_422_naming_the_field_without_retry_after(limit: str, path: str) -> None:
    reply = app_raising(LimitExceeded(limit, 50, 10)).post("/raise")
    assert reply.status_code == 422, reply.text
    assert "retry-after" not in reply.headers
    assert reply.json()["errors"] == [{"path": path, "message": f"{limit} is 10 for this tenant; this request needs 50"}]


def test_a_database_outage_is_a_503_to_retry() -> None:
    reply = app_raising(StoreUnavailable("database unavailable: connection refused")).post("/raise")
    assert reply.status_code == 503 and reply.headers["retry-after"] == "5"
