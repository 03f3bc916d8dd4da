"""Uploads are bounded while they are read, named safely, and counted against the tenant's storage.

Issue 10: items 2 (compressed uploads unpacked without a limit), 3 (a very wide CSV held the API
for minutes), 10 (an upload named `..` was a plain-text 500) and 11 (uploads and their count
were not limited by anything but the body size).
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from adamant.datasets.catalogue import BANK_MARKETING_FILE
from adamant.settings import Settings
from support.stack import Stack

pytestmark = [pytest.mark.integration]

ADMIN_KEY = "upload-limits-admin-key-0123456789"
PROBLEM = "application/problem+json"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[TestClient]:
    """The API in this process with small read limits; authenticated as the admin."""
    from service.app import create_app

    settings = Settings(
        home=tmp_path, admin_key=ADMIN_KEY, local_user=False,
        upload_max_decompressed_bytes=8_000_000, upload_max_rows=100_000, upload_max_columns=50,
    )
    with TestClient(create_app(settings, run_sweeps=False), headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        yield client


@pytest.fixture
def tenant(service: TestClient) -> dict[str, str]:
    reply = service.post("/v1/tenants", json={"name": "uploader"})
    assert reply.status_code == 201, reply.text
    return {"Authorization": f"Bearer {reply.json()['api_key']}", "tenant_id": reply.json()["tenant_id"]}


def upload(client: TestClient, tenant: dict[str, str], filename: str, content: bytes):  # type: ignore[no-untyped-def]
    headers = {"Authorization": tenant["Authorization"]}
    return client.post("/v1/datasets", files={"file": (filename, content, "application/octet-stream")}, headers=headers)


def datasets_of(client: TestClient, tenant: dict[str, str]) -> list[dict]:
    return client.get("/v1/datasets", headers={"Authorization": tenant["Authorization"]}).json()["datasets"]


def gzip_csv(rows: int, row: bytes = b"1,2\n") -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(b"a,b\n")]
    for _ in range(rows // 10_000):
        parts.append(compressor.compress(row * 10_000))
    return b"".join(parts) + compressor.flush()


def assert_refused(reply, status: int, limit: str) -> dict:  # type: ignore[no-untyped-def]
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith(PROBLEM)
    assert "retry-after" not in reply.headers  # a permanent limit: retrying does not help
    problem = reply.json()
    assert any(limit in str(error.values()) for error in problem["errors"]), problem
    return problem


# -- item 2: what an upload unpacks to is capped while it is read ---------------------------


def test_a_gzip_csv_unpacking_past_the_byte_cap_is_refused_naming_the_cap(service: TestClient, tenant: dict[str, str]) -> None:
    bomb = gzip_csv(90_000, b"1," + b"7" * 197 + b"\n")  # 18 MB of text in ~70 KB, rows under their cap
    assert len(bomb) < 100_000

    problem = assert_refused(upload(service, tenant, "bomb.csv", bomb), 422, "upload_max_decompressed_bytes")
    assert problem["errors"][0]["path"] == "file" and problem["errors"][0]["cap"] == 8_000_000
    assert "decompresses to more than 8,000,000 bytes" in problem["detail"]
    assert datasets_of(service, tenant) == []


def test_rows_past_the_cap_are_refused_naming_the_cap(service: TestClient, tenant: dict[str, str]) -> None:
    problem = assert_refused(upload(service, tenant, "rows.csv", gzip_csv(150_000)), 422, "upload_max_rows")
    assert "more than 100,000 rows" in problem["detail"]


def test_a_parquet_file_is_refused_by_its_footer(service: TestClient, tenant: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "tall.parquet"
    pq.write_table(pa.table({"a": pa.array([0] * 3_000_000, pa.int8()), "b": pa.array([1] * 3_000_000, pa.int8())}), path)

    started = time.perf_counter()
    problem = assert_refused(upload(service, tenant, "tall.parquet", path.read_bytes()), 422, "upload_max_rows")
    assert time.perf_counter() - started < 5.0
    assert "3,000,000 rows" in problem["detail"] and problem["errors"][0]["found"] == 3_000_000


def test_an_upload_is_described_from_its_first_rows_and_counted_to_the_end(service: TestClient, tmp_path: Path) -> None:
    reply = service.post("/v1/tenants", json={"name": "bank"})
    tenant = {"Authorization": f"Bearer {reply.json()['api_key']}"}
    content = gzip.compress(BANK_MARKETING_FILE.read_bytes())

    reply = upload(service, tenant, "bank.csv.gz", content)
    assert reply.status_code == 201, reply.text
    schema = reply.json()["schema"]
    assert reply.json()["rows"] == 41_188 and schema["rows"] == 41_188
    assert len(schema["columns"]) == 21 and len(schema["preview"]) == 10


def test_a_table_wider_than_the_cap_is_refused_naming_its_width(service: TestClient, tenant: dict[str, str]) -> None:
    wide = (",".join(f"c{i}" for i in range(51)) + "\n" + ",".join("1" * 51) + "\n").encode()

    problem = assert_refused(upload(service, tenant, "wide.csv", wide), 422, "upload_max_columns")
    assert "51 columns" in problem["detail"] and "limit is 50" in problem["detail"]


# -- item 3: a very wide CSV is answered at once, and the API stays responsive ------------


def test_a_100k_column_csv_is_refused_at_once_while_healthz_answers(stack: Stack, tenant_key: str) -> None:
    wide = (",".join(str(i % 10) for i in range(100_000)) + "\n").encode()  # one row of numbers: no header
    answers: dict[str, object] = {}

    def send() -> None:
        with stack.client(tenant_key) as client:
            started = time.perf_counter()
            try:
                answers["reply"] = client.post("/v1/datasets", files={"file": ("wide.csv", wide, "text/csv")})
            except httpx.TimeoutException as exc:
                answers["error"] = f"no answer in {time.perf_counter() - started:.0f} s: {exc!r}"
            answers["seconds"] = time.perf_counter() - started

    sender = threading.Thread(target=send)
    health: list[float] = []
    with stack.client() as client:
        sender.start()
        while sender.is_alive():
            started = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            health.append(time.perf_counter() - started)
        sender.join()
    assert "reply" in answers, (answers, f"/healthz took up to {max(health):.2f} s meanwhile")
    reply = answers["reply"]
    assert reply.status_code == 422, reply.text  # type: ignore[attr-defined]
    assert reply.headers["content-type"].startswith(PROBLEM)  # type: ignore[attr-defined]
    problem = reply.json()  # type: ignore[attr-defined]
    assert "100,000 columns" in problem["detail"] and "2,000" in problem["detail"]
    assert problem["errors"][0]["path"] == "file" and problem["errors"][0]["limit"] == "upload_max_columns"
    assert answers["seconds"] < 2.0, answers
    assert health and max(health) < 0.5, health


# -- item 10: any file name is stored safely or refused as problem+json -------------------


@pytest.mark.parametrize("filename", ["..", ".", "/", "../../etc/passwd", "a" * 1000 + ".csv", "x\x00y.csv",
                                      "C:\\Users\\me\\customers.csv", "   ", ".hidden.csv", "ümlaut données.csv"])
def test_odd_upload_names_are_stored_under_a_safe_name(service: TestClient, tenant: dict[str, str], filename: str) -> None:
    reply = upload(service, tenant, filename, b"a,b\n1,2\n")

    assert reply.status_code == 201, reply.text
    stored = reply.json()
    assert 0 < len(stored["name"]) <= 200 and "/" not in stored["name"] and not stored["name"].startswith(".")
    assert "\x00" not in stored["name"] and stored["rows"] == 1


def test_an_upload_with_an_empty_file_name_is_a_problem_naming_the_file(service: TestClient, tenant: dict[str, str]) -> None:
    reply = upload(service, tenant, "", b"a,b\n1,2\n")

    if reply.status_code == 201:  # a client may send an empty name: it is stored under a default one
        assert reply.json()["name"] == "upload.csv"
        return
    assert reply.status_code == 422 and reply.headers["content-type"].startswith(PROBLEM), reply.text
    assert reply.json()["errors"][0]["path"] == "file"


@pytest.mark.parametrize("name", ["a\x00b", "tab\there", ""])
def test_a_dataset_name_with_control_characters_is_a_problem_naming_name(service: TestClient, tenant: dict[str, str], name: str) -> None:
    reply = service.post("/v1/datasets", files={"file": ("ok.csv", b"a,b\n1,2\n", "text/csv")}, data={"name": name},
                         headers={"Authorization": tenant["Authorization"]})

    if name == "" and reply.status_code == 201:  # an empty form field is no name: the file's is used
        assert reply.json()["name"] == "ok.csv"
        return
    assert reply.status_code == 422 and reply.headers["content-type"].startswith(PROBLEM), reply.text
    assert reply.json()["errors"][0]["path"] == "name"


# -- item 11: uploads count against the tenant's storage, and their number is capped ----------


def test_the_dataset_limit_refuses_one_more_upload_until_one_is_deleted(service: TestClient, tenant: dict[str, str]) -> None:
    assert service.patch(f"/v1/tenants/{tenant['tenant_id']}", json={"max_datasets": 2}).json()["max_datasets"] == 2
    first = upload(service, tenant, "one.csv", b"a,b\n1,2\n").json()
    assert upload(service, tenant, "two.csv", b"a,b\n1,2\n").status_code == 201

    problem = assert_refused(upload(service, tenant, "three.csv", b"a,b\n1,2\n"), 409, "max_datasets")
    assert problem["errors"][0]["usage"] == 2 and problem["errors"][0]["limit"] == 2
    assert "DELETE /v1/datasets/{id}" in problem["detail"]

    assert service.delete(f"/v1/datasets/{first['id']}", headers={"Authorization": tenant["Authorization"]}).status_code == 204
    assert upload(service, tenant, "three.csv", b"a,b\n1,2\n").status_code == 201


def test_uploads_count_against_the_artifact_quota(service: TestClient, tenant: dict[str, str]) -> None:
    content = b"a,b\n" + b"1,2\n" * 1_000  # 4,004 bytes
    service.patch(f"/v1/tenants/{tenant['tenant_id']}", json={"max_artifact_bytes": 6_000})
    assert upload(service, tenant, "first.csv", content).status_code == 201

    problem = assert_refused(upload(service, tenant, "second.csv", content), 409, "max_artifact_bytes")
    assert "4,004 of 1 uploaded datasets" in problem["detail"] and "6,000" in problem["detail"]
    assert problem["errors"][0]["usage"] == 4_004 and problem["errors"][0]["limit"] == 6_000
    assert len(datasets_of(service, tenant)) == 1


def test_a_tenant_at_its_quota_is_refused_before_the_upload_is_read(service: TestClient, tenant: dict[str, str]) -> None:
    service.patch(f"/v1/tenants/{tenant['tenant_id']}", json={"max_artifact_bytes": 4_004})
    assert upload(service, tenant, "first.csv", b"a,b\n" + b"1,2\n" * 1_000).status_code == 201

    problem = assert_refused(upload(service, tenant, "tiny.csv", b"a,b\n1,2\n"), 409, "max_artifact_bytes")
    assert "no room for another upload" in problem["detail"]


def test_uploaded_bytes_count_when_a_job_is_submitted(service: TestClient, tenant: dict[str, str]) -> None:
    assert upload(service, tenant, "first.csv", b"a,b\n" + b"1,2\n" * 1_000).status_code == 201
    service.patch(f"/v1/tenants/{tenant['tenant_id']}", json={"max_artifact_bytes": 4_004})
    spec = {"task": "binary_classification", "dataset": {"ref": "builtin:bank-marketing", "target": "y"},
            "model": {"type": "logistic"}, "training": {"epochs": 1}}

    refused = service.post("/v1/jobs", json=spec, headers={"Authorization": tenant["Authorization"]})
    assert refused.status_code == 409 and refused.json()["type"].endswith("artifact-quota-exceeded"), refused.text
    assert "4004 of uploads" in refused.json()["detail"]


def test_two_uploads_at_once_cannot_both_take_the_last_place(service: TestClient, tenant: dict[str, str], tmp_path: Path) -> None:
    service.patch(f"/v1/tenants/{tenant['tenant_id']}", json={"max_datasets": 1})
    replies: list[int] = []

    def send(name: str) -> None:
        replies.append(upload(service, tenant, name, b"a,b\n1,2\n").status_code)

    senders = [threading.Thread(target=send, args=(f"{i}.csv",)) for i in range(4)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    assert sorted(replies) == [201, 409, 409, 409] and len(datasets_of(service, tenant)) == 1
    folders = list((tmp_path / "artifacts" / "datasets" / tenant["tenant_id"]).iterdir())
    assert len(folders) == 1, folders  # the refused ones left no file behind
