"""The client's transport against a small real HTTP server that answers as a struggling proxy
would: which requests are sent again, with what headers, and what the caller gets at the end."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from client.api import AdamantClient
from client.exceptions import ProblemError, ServiceUnreachable
from client.retries import RetryPolicy

FAST = RetryPolicy(retries=3, backoff_s=0.01, max_retry_after_s=2, jitter=False)


class Script:
    """Answers to give, in order (the last one repeats), and the requests that came."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str], bytes]] = []
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            script.requests.append((self.command, self.path, dict(self.headers), body))
            status, headers, payload = script.answers[min(len(script.requests), len(script.answers)) - 1]
            self.send_response(status)
            for name, value in {"Content-Length": str(len(payload)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    httpd.shutdown()
    httpd.server_close()


def job_json(status: str = "queued") -> tuple[int, dict[str, str], bytes]:
    return 202, {"Content-Type": "application/json"}, json.dumps({"id": "job_1", "status": status}).encode()


def problem(status: int, title: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"title": title, "status": status, "detail": f"{title.lower()} right now"}).encode()
    return status, {"Content-Type": "application/problem+json", **(headers or {})}, body


def test_a_submit_retried_after_a_gateway_error_sends_the_same_idempotency_key(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [problem(503, "Service Unavailable"), problem(502, "Bad Gateway"), job_json()]
    with AdamantClient(url, "key", retry=FAST) as client:
        assert client.submit({"task": "regression"})["id"] == "job_1"
    keys = [headers.get("Idempotency-Key") for _, _, headers, _ in script.requests]
    assert len(keys) == 3 and keys[0] and len(set(keys)) == 1
    assert all(json.loads(body) == {"task": "regression"} for *_, body in script.requests)


def test_each_submit_gets_its_own_key_unless_the_caller_gives_one(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [job_json()]
    with AdamantClient(url, "key", retry=FAST) as client:
        client.submit({})
        client.submit({})
        client.submit({}, idempotency_key="mine")
    keys = [headers["Idempotency-Key"] for _, _, headers, _ in script.requests]
    assert keys[0] != keys[1] and keys[2] == "mine"


def test_429_waits_its_retry_after_then_succeeds(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [problem(429, "Limit exceeded", {"Retry-After": "1"}), job_json()]
    with AdamantClient(url, "key", retry=FAST) as client:
        started = time.monotonic()
        client.cancel("job_1")
        assert time.monotonic() - started >= 1.0
    assert len(script.requests) == 2


def test_a_retry_after_beyond_the_cap_is_reported_at_once(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [problem(429, "Too many failed sign-ins", {"Retry-After": "60"})]
    with AdamantClient(url, "key", retry=FAST) as client, pytest.raises(ProblemError) as caught:
        client.get_job("job_1")
    assert caught.value.status == 429 and len(script.requests) == 1


def test_an_upload_is_not_sent_again_after_a_gateway_error(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    script.answers = [problem(503, "Service Unavailable")]
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    with AdamantClient(url, "key", retry=FAST) as client, pytest.raises(ProblemError) as caught:
        client.upload_dataset(tmp_path / "rows.csv")
    assert caught.value.status == 503 and len(script.requests) == 1
    assert "Idempotency-Key" not in script.requests[0][2]


def test_a_throttled_upload_is_sent_again_from_the_start_of_the_file(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    script.answers = [problem(429, "Limit exceeded"), (201, {"Content-Type": "application/json"}, b'{"id": "ds_1"}')]
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    with AdamantClient(url, "key", retry=FAST) as client:
        assert client.upload_dataset(tmp_path / "rows.csv")["id"] == "ds_1"
    assert len(script.requests) == 2 and all(b"a,b\n1,2\n" in body for *_, body in script.requests)


def test_gives_up_after_the_last_retry_with_the_last_problem(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [problem(504, "Gateway Timeout")]
    with AdamantClient(url, "key", retry=FAST) as client, pytest.raises(ProblemError) as caught:
        client.logs("job_1")
    assert caught.value.status == 504 and len(script.requests) == 4


def test_a_service_that_is_not_there_is_named_after_retrying() -> None:
    from support.stack import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with AdamantClient(url, "key", retry=FAST) as client, pytest.raises(ServiceUnreachable) as caught:
        client.get_job("job_1")
    assert url in str(caught.value)
