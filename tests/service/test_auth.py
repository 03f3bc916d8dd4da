"""API keys: failed attempts throttle only themselves, bodies wait for a valid key, keys are
rotated and revoked over HTTP, and /readyz fails when a dependency cannot be reached.

Issue 10: items 8 (a per-address lockout that refused valid keys, and believed any
X-Forwarded-For), 9 (a 200 MB body read to the end before the 401), 11 (keys could not be
rotated or revoked over HTTP) and 21 (/readyz never tested with a dependency down).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.datastructures import Headers

from adamant.settings import Settings
from service.api.deps import FAILURES_PER_MINUTE, client_address
from support.stack import Stack, free_port, make_stack

pytestmark = [pytest.mark.integration]

ADMIN_KEY = "auth-tests-admin-key-0123456789"
PROBLEM = "application/problem+json"
BAD_KEY = "adm_BADBADBAD" + "x" * 35


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def service_for(home: Path, client: tuple[str, int] = ("192.0.2.10", 50000), **settings: object) -> TestClient:
    from service.app import create_app

    app = create_app(Settings(home=home, admin_key=ADMIN_KEY, local_user=False, **settings), run_sweeps=False)
    return TestClient(app, client=client)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[TestClient]:
    with service_for(tmp_path) as client:
        yield client


def new_tenant(client: TestClient, name: str) -> tuple[str, str]:
    """(tenant id, its first key)."""
    reply = client.post("/v1/tenants", json={"name": name}, headers=bearer(ADMIN_KEY))
    assert reply.status_code == 201, reply.text
    return reply.json()["tenant_id"], reply.json()["api_key"]


def fail_until_locked_out(client: TestClient | httpx.Client, key: str = BAD_KEY, headers: dict[str, str] | None = None,
                          vary: dict[str, str] | None = None) -> list[int]:
    """Send a bad key until the answer turns 429 (vary: one header given a new value per attempt)."""
    statuses = []
    for attempt in range(FAILURES_PER_MINUTE + 5):
        extra = {name: value.format(attempt) for name, value in (vary or {}).items()}
        statuses.append(client.get("/v1/jobs", headers={**bearer(key), **(headers or {}), **extra}).status_code)
    return statuses


# --- item 8: the lockout throttles failures only ----------------------------------------------


def test_many_bad_keys_from_one_address_do_not_stop_a_valid_key_from_it(service: TestClient) -> None:
    _, key = new_tenant(service, "alice")
    statuses = fail_until_locked_out(service)
    assert statuses[:FAILURES_PER_MINUTE] == [401] * FAILURES_PER_MINUTE and statuses[-1] == 429
    assert service.get("/v1/jobs", headers=bearer(BAD_KEY)).headers["retry-after"] == "60"

    reply = service.get("/v1/jobs", headers=bearer(key))  # same address, never seen before: not refused
    assert reply.status_code == 200, reply.text
    assert service.get("/v1/jobs", headers=bearer(ADMIN_KEY)).status_code == 200


def test_failures_with_one_key_prefix_do_not_throttle_another_prefix(service: TestClient) -> None:
    assert fail_until_locked_out(service)[-1] == 429
    assert service.get("/v1/jobs", headers=bearer("adm_OTHER" + "y" * 39)).status_code == 401


def test_a_client_guessing_with_ever_new_prefixes_is_throttled_too(service: TestClient) -> None:
    statuses = [service.get("/v1/jobs", headers=bearer(f"adm_{i:06d}" + "z" * 37)).status_code for i in range(10 * FAILURES_PER_MINUTE + 1)]
    assert statuses[0] == 401 and statuses[-1] == 429


def test_a_forwarded_address_from_a_trusted_proxy_is_honoured(tmp_path: Path) -> None:
    """Behind the proxy every request comes from 10.0.0.2; the lockout lands on the client the proxy names."""
    with service_for(tmp_path, client=("10.0.0.2", 40000), trusted_proxies="10.0.0.0/8") as proxied:
        _, key = new_tenant(proxied, "bob")
        attacker = {"X-Forwarded-For": "203.0.113.7"}
        assert fail_until_locked_out(proxied, headers=attacker)[-1] == 429
        # Another client behind the same proxy, same bad key: its own count, still a plain 401.
        assert proxied.get("/v1/jobs", headers={**bearer(BAD_KEY), "X-Forwarded-For": "203.0.113.8"}).status_code == 401
        # The attacker's address, spoofed in front of what our proxy appended, is still the attacker.
        spoofed = {**bearer(BAD_KEY), "X-Forwarded-For": "198.51.100.1, 203.0.113.7"}
        assert proxied.get("/v1/jobs", headers=spoofed).status_code == 429
        assert proxied.get("/v1/jobs", headers={**bearer(key), **attacker}).status_code == 200
        # RFC 7239 Forwarded, when there is no X-Forwarded-For.
        assert proxied.get("/v1/jobs", headers={**bearer(BAD_KEY), "Forwarded": 'for="203.0.113.7:5555"'}).status_code == 429


def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(tmp_path: Path) -> None:
    with service_for(tmp_path, client=("192.0.2.44", 40000), trusted_proxies="10.0.0.0/8") as direct:
        statuses = fail_until_locked_out(direct, vary={"X-Forwarded-For": "198.51.100.{}"})
        assert statuses[-1] == 429  # a fresh "address" per attempt bought nothing


@pytest.mark.parametrize("peer, headers, expected", [
    ("192.0.2.1", {"x-forwarded-for": "203.0.113.9"}, "192.0.2.1"),  # not a trusted proxy
    ("10.1.2.3", {"x-forwarded-for": "203.0.113.9"}, "203.0.113.9"),
    ("10.1.2.3", {"x-forwarded-for": "203.0.113.9, 10.9.9.9"}, "203.0.113.9"),  # two trusted hops
    ("10.1.2.3", {"forwarded": 'for=192.0.2.60;proto=https, for="[2001:db8::7]:4711"'}, "2001:db8::7"),
    ("10.1.2.3", {}, "10.1.2.3"),
    ("::ffff:10.1.2.3", {"x-forwarded-for": "203.0.113.9"}, "203.0.113.9"),
])
def test_client_address_trusts_only_the_configured_proxies(peer: str, headers: dict[str, str], expected: str) -> None:
    trusted = Settings(trusted_proxies="10.0.0.0/8").trusted_proxies
    assert client_address(peer, Headers(headers), trusted) == expected


# --- items 8 and 9 through a real uvicorn -------------------------------------------------------


@pytest.fixture(scope="module")
def uvicorn_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The API as deployed (service.app:create_asgi_app under uvicorn), no trusted proxies."""
    stack = make_stack("embedded", tmp_path_factory.mktemp("auth-stack"))
    stack.start_api()
    yield stack
    stack.stop_all()


def test_uvicorn_does_not_rewrite_the_client_from_a_spoofed_forwarded_header(uvicorn_stack: Stack) -> None:
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 by default; the serve commands turn that off
    (ADAMANT_TRUSTED_PROXIES decides), so from localhost a spoofed header changes nothing."""
    with httpx.Client(base_url=uvicorn_stack.base_url, timeout=10) as client:
        statuses = fail_until_locked_out(client, key="adm_SPOOF" + "q" * 39, vary={"X-Forwarded-For": "198.51.100.{}"})
    assert statuses[-1] == 429, statuses


def test_every_serve_command_leaves_forwarded_addresses_to_the_service() -> None:
    """The image's command and `serve.sh` (service.embedded) turn uvicorn's own X-Forwarded-For
    handling off, as the test stack does: ADAMANT_TRUSTED_PROXIES alone decides."""
    from support.stack import REPO

    image_command = next(line for line in (REPO / "Dockerfile").read_text().splitlines()
                         if line.startswith("CMD") and "uvicorn" in line)
    assert '"--no-proxy-headers"' in image_command, image_command
    assert "proxy_headers=False" in (REPO / "service" / "embedded.py").read_text()


def send_headers_only(stack: Stack, path: str, content_length: int | None, key: str | None = None,
                      timeout: float = 5.0) -> bytes:
    """Send a request's headers and 10 bytes of a body that would be `content_length` long (None:
    chunked), then read what comes back before sending anything more."""
    framing = f"Content-Length: {content_length}\r\n" if content_length is not None else "Transfer-Encoding: chunked\r\n"
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}{framing}"
            "Content-Type: multipart/form-data; boundary=xyz\r\n\r\n").encode()
    first_bytes = b"--xyz\r\nAbc" if content_length is not None else b"a\r\n--xyz\r\nAbc\r\n"
    with socket.create_connection(("127.0.0.1", stack.port), timeout=timeout) as conn:
        conn.sendall(head + first_bytes)
        reply = b""
        try:
            while chunk := conn.recv(65536):  # the server closes the connection after its answer
                reply += chunk
        except TimeoutError:
            pass  # no answer (yet): the server is waiting for the rest of the body
    return reply


@pytest.mark.parametrize("path, content_length", [
    ("/v1/datasets", 200 * 1024 * 1024),  # over the upload cap as well: the missing key is what it hears
    ("/v1/datasets", 10 * 1024 * 1024),   # under the cap
    ("/v1/jobs", 4 * 1024 * 1024),
    ("/v1/datasets", None),               # chunked
])
def test_a_body_without_a_key_is_refused_before_it_is_sent(uvicorn_stack: Stack, path: str, content_length: int | None) -> None:
    started = time.monotonic()
    reply = send_headers_only(uvicorn_stack, path, content_length)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401"), reply[:300]
    assert b"content-type: application/problem+json" in head.lower() and b"connection: close" in head.lower()
    assert b'"status":401' in body.replace(b" ", b"")
    assert time.monotonic() - started < 4  # answered, and the connection closed, without waiting for the body


def test_a_body_with_a_bad_key_is_refused_before_it_is_sent(uvicorn_stack: Stack) -> None:
    reply = send_headers_only(uvicorn_stack, "/v1/datasets", 10 * 1024 * 1024, key="adm_NOPE" + "n" * 40)
    assert reply.startswith(b"HTTP/1.1 401"), reply[:300]


def test_a_body_with_a_valid_key_is_read_as_before(uvicorn_stack: Stack) -> None:
    with uvicorn_stack.client() as admin:
        reply = admin.post("/v1/datasets", files={"file": ("tiny.csv", b"a,b\n1,2\n3,4\n", "text/csv")})
        assert reply.status_code == 201, reply.text
    # A valid key and a body still on its way: the server waits for the body, it does not answer.
    assert send_headers_only(uvicorn_stack, "/v1/datasets", 10 * 1024 * 1024, key=uvicorn_stack.admin_key, timeout=1.5) == b""


def test_with_the_database_down_a_body_is_answered_as_problem_json_not_a_crash(tmp_path: Path) -> None:
    """The check before the body cannot reach the database: the route answers, as it always did."""
    from service.api.early_auth import EarlyAuth
    from service.app import create_app
    from service.upload_limit import UploadLimit

    settings = Settings(home=tmp_path, local_user=False, migrate_on_start=False,
                        database_url_override=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/adamant")
    api = create_app(settings, run_sweeps=False)
    with TestClient(EarlyAuth(UploadLimit(api, max_bytes=1024), api)) as client:
        reply = client.post("/v1/jobs", json={}, headers=bearer(BAD_KEY))
    assert reply.headers["content-type"] == PROBLEM and "database unavailable" in reply.json()["detail"], reply.text
    assert reply.status_code == 503 and reply.headers["retry-after"] == "5"  # not the client's fault: try again


# --- item 11: keys over HTTP -------------------------------------------------------------------


def test_a_tenant_creates_lists_and_revokes_its_own_keys(service: TestClient) -> None:
    _, first = new_tenant(service, "carol")
    created = service.post("/v1/keys", json={"name": "ci"}, headers=bearer(first))
    assert created.status_code == 201, created.text
    second = created.json()["api_key"]
    assert second.startswith("adm_") and created.json()["prefix"] == second[:8]
    odd_name = service.post("/v1/keys", json={"name": "a\x00b"}, headers=bearer(first))
    assert odd_name.status_code == 422 and [e["path"] for e in odd_name.json()["errors"]] == ["name"], odd_name.text
    assert service.get("/v1/jobs", headers=bearer(second)).status_code == 200

    listed = service.get("/v1/keys", headers=bearer(second)).json()["keys"]
    assert [k["name"] for k in listed] == ["default", "ci"]
    assert all("api_key" not in k and k["revoked_at"] is None and k["created_at"] for k in listed)

    assert service.get("/v1/jobs", headers=bearer(first)).status_code == 200  # cached as valid...
    revoked = service.delete(f"/v1/keys/{listed[0]['id']}", headers=bearer(second))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"], revoked.text
    assert service.get("/v1/jobs", headers=bearer(first)).status_code == 401  # ...and refused at once
    assert service.get("/v1/jobs", headers=bearer(second)).status_code == 200


def test_the_keys_list_shows_when_each_key_was_last_used(service: TestClient) -> None:
    _, key = new_tenant(service, "gina")
    service.post("/v1/keys", json={"name": "never-used"}, headers=bearer(key))
    deadline = time.monotonic() + 10
    while (keys := service.get("/v1/keys", headers=bearer(key)).json()["keys"])[0]["last_used_at"] is None:
        assert time.monotonic() < deadline, keys  # stamped in the background, after the request
        time.sleep(0.1)
    assert keys[0]["last_used_at"] >= keys[0]["created_at"] and keys[1]["last_used_at"] is None


def test_revoking_the_last_key_is_refused_unless_forced(service: TestClient) -> None:
    _, key = new_tenant(service, "dave")
    (only,) = service.get("/v1/keys", headers=bearer(key)).json()["keys"]
    refused = service.delete(f"/v1/keys/{only['id']}", headers=bearer(key))
    assert refused.status_code == 409 and refused.headers["content-type"] == PROBLEM, refused.text
    assert refused.json()["type"].endswith("/last-key") and refused.json()["errors"][0]["path"] == "key_id"
    assert service.get("/v1/jobs", headers=bearer(key)).status_code == 200

    assert service.delete(f"/v1/keys/{only['id']}", params={"force": "true"}, headers=bearer(key)).status_code == 200
    assert service.get("/v1/jobs", headers=bearer(key)).status_code == 401


def test_a_tenant_cannot_list_revoke_or_rotate_another_tenants_keys(service: TestClient) -> None:
    a_id, a_key = new_tenant(service, "tenant-a")
    _, b_key = new_tenant(service, "tenant-b")
    service.post("/v1/keys", json={"name": "spare"}, headers=bearer(a_key))  # so A's key is not its last
    a_keys = service.get("/v1/keys", headers=bearer(a_key)).json()["keys"]
    b_keys = service.get("/v1/keys", headers=bearer(b_key)).json()["keys"]
    assert {k["id"] for k in a_keys}.isdisjoint({k["id"] for k in b_keys}) and len(b_keys) == 1

    target = a_keys[0]["id"]
    for reply in (service.delete(f"/v1/keys/{target}", params={"force": "true"}, headers=bearer(b_key)),
                  service.post(f"/v1/keys/{target}/rotate", headers=bearer(b_key))):
        assert reply.status_code == 404, reply.text
    for reply in (service.get(f"/v1/tenants/{a_id}/keys", headers=bearer(b_key)),
                  service.post(f"/v1/tenants/{a_id}/keys", headers=bearer(b_key)),
                  service.delete(f"/v1/tenants/{a_id}/keys/{target}", headers=bearer(b_key))):
        assert reply.status_code == 403, reply.text
    assert service.get("/v1/jobs", headers=bearer(a_key)).status_code == 200
    assert len(service.get("/v1/keys", headers=bearer(a_key)).json()["keys"]) == 2


def test_the_admin_lists_creates_and_revokes_a_tenants_keys(service: TestClient) -> None:
    tenant_id, key = new_tenant(service, "erin")
    admin = bearer(ADMIN_KEY)
    created = service.post(f"/v1/tenants/{tenant_id}/keys", json={"name": "from-admin"}, headers=admin)
    assert created.status_code == 201, created.text
    new_key = created.json()["api_key"]
    assert service.get("/v1/keys", headers=bearer(new_key)).status_code == 200
    listed = service.get(f"/v1/tenants/{tenant_id}/keys", headers=admin).json()["keys"]
    assert [k["name"] for k in listed] == ["default", "from-admin"]
    assert service.delete(f"/v1/tenants/{tenant_id}/keys/{listed[0]['id']}", headers=admin).status_code == 200
    assert service.get("/v1/jobs", headers=bearer(key)).status_code == 401
    assert service.get("/v1/tenants/tnt_nosuch/keys", headers=admin).status_code == 404


def test_rotation_replaces_a_key_now_or_after_its_grace(service: TestClient) -> None:
    _, old = new_tenant(service, "frank")
    (old_row,) = service.get("/v1/keys", headers=bearer(old)).json()["keys"]
    rotated = service.post(f"/v1/keys/{old_row['id']}/rotate", json={"grace_s": 2}, headers=bearer(old))
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()["api_key"]
    assert rotated.json()["name"] == old_row["name"]
    assert service.get("/v1/jobs", headers=bearer(old)).status_code == 200  # within its grace
    assert service.get("/v1/jobs", headers=bearer(new)).status_code == 200
    deadline = time.monotonic() + 10
    while service.get("/v1/jobs", headers=bearer(old)).status_code == 200:  # cached, yet it ends with the grace
        assert time.monotonic() < deadline, "the old key still works 10 s into a 2 s grace"
        time.sleep(0.2)
    assert service.get("/v1/jobs", headers=bearer(old)).status_code == 401

    new_row = service.get("/v1/keys", headers=bearer(new)).json()["keys"][-1]
    newest = service.post(f"/v1/keys/{new_row['id']}/rotate", headers=bearer(new))  # no grace: at once
    assert newest.status_code == 201
    assert service.get("/v1/jobs", headers=bearer(new)).status_code == 401
    assert service.get("/v1/jobs", headers=bearer(newest.json()["api_key"])).status_code == 200


def test_a_key_revoked_in_another_service_process_stops_within_a_second(tmp_path: Path) -> None:
    """Two service processes on one database: the second cached the key as valid for 30 s."""
    with service_for(tmp_path) as first, service_for(tmp_path) as second:
        _, key = new_tenant(first, "grace")
        spare = first.post("/v1/keys", json={"name": "spare"}, headers=bearer(key)).json()["api_key"]
        assert second.get("/v1/jobs", headers=bearer(key)).status_code == 200  # now in second's cache
        key_id = first.get("/v1/keys", headers=bearer(spare)).json()["keys"][0]["id"]
        assert first.delete(f"/v1/keys/{key_id}", headers=bearer(spare)).status_code == 200
        time.sleep(1.5)
        assert second.get("/v1/jobs", headers=bearer(key)).status_code == 401


# --- item 21: /readyz with a dependency down ----------------------------------------------------


def test_readyz_is_503_naming_the_broker_when_nothing_listens_at_its_port(tmp_path: Path) -> None:
    with service_for(tmp_path, broker_url_override=f"redis://127.0.0.1:{free_port()}/0") as service:
        assert service.get("/healthz").status_code == 200
        reply = service.get("/readyz")
    assert reply.status_code == 503 and reply.headers["content-type"] == PROBLEM, reply.text
    assert [e["path"] for e in reply.json()["errors"]] == ["broker"]
    assert "broker: unreachable" in reply.json()["detail"] and "database: ok" in reply.json()["detail"]


def test_readyz_is_503_naming_the_database_when_nothing_listens_at_its_port(tmp_path: Path) -> None:
    from service.app import create_app

    settings = Settings(home=tmp_path, local_user=False, migrate_on_start=False,
                        database_url_override=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/adamant")
    with TestClient(create_app(settings, run_sweeps=False)) as service:
        reply = service.get("/readyz")
    assert reply.status_code == 503 and reply.headers["content-type"] == PROBLEM, reply.text
    assert [e["path"] for e in reply.json()["errors"]] == ["database"]
    assert "database: unreachable" in reply.json()["detail"] and "broker: ok" in reply.json()["detail"]
