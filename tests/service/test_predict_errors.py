"""Predict answers every bad row with a problem+json 422 naming the cell, never a plain-text 500.

Issue 10, item 10: a list or object cell (pandas: "unhashable type") and a `10**400` cell
(an int no float can hold: OverflowError) were plain-text 500s.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from support.in_process import service_with_trained_jobs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROBLEM = "application/problem+json"
SPEC = {
    "task": "binary_classification",
    "dataset": {"ref": "builtin:bank-marketing", "target": "y", "features": ["age", "job", "marital", "education", "campaign"]},
    "model": {"type": "logistic"},
    "training": {"epochs": 1, "batch_size": 4096},
    "resources": {"device": "cpu"},
}
ROW = {"age": 41, "job": "admin.", "marital": "married", "education": "university.degree", "campaign": 2}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    """A service with one trained job (trained in-process by run_job, as a worker would)."""
    with service_with_trained_jobs(tmp_path_factory.mktemp("predict-errors"), "predict", [SPEC]) as (client, headers, jobs):
        yield client, headers, jobs[0]


def predict_raw(trained, row_json: str):  # type: ignore[no-untyped-def]
    client, headers, job_id = trained
    return client.post(f"/v1/jobs/{job_id}/predict", content='{"rows": [' + row_json + "]}", headers=headers)


def row_with(cell_json: str, column: str = "age") -> str:
    fields = [f'"{name}": {cell_json if name == column else repr(value).replace(chr(39), chr(34))}' for name, value in ROW.items()]
    return "{" + ", ".join(fields) + "}"


def test_a_plain_row_is_scored(trained) -> None:  # type: ignore[no-untyped-def]
    reply = predict_raw(trained, row_with("41"))
    assert reply.status_code == 200, reply.text
    assert 0.0 <= reply.json()["predictions"][0]["score"] <= 1.0


@pytest.mark.parametrize(
    ("cell", "column", "says"),
    [
        ("[1, 2]", "age", "not a list"),
        ('{"years": 41}', "age", "not an object"),
        ("[1, 2]", "job", "not a list"),  # a categorical column
        ('{"a": 1}', "job", "not an object"),
        ("1" + "0" * 400, "age", "float64"),  # 10**400: an int json reads exactly, no float can hold
        ("-" + "1" + "0" * 400, "campaign", "float64"),
        ("1e400", "age", "finite"),  # json reads this one as inf
        ("NaN", "age", "finite"),
        ("Infinity", "job", "finite"),
    ],
)
def test_a_cell_that_is_not_one_finite_value_is_a_422_naming_it(trained, cell: str, column: str, says: str) -> None:  # type: ignore[no-untyped-def]
    reply = predict_raw(trained, row_with("41") + ", " + row_with(cell, column))
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith(PROBLEM)
    [error] = reply.json()["errors"]
    assert error["path"] == f"rows.1.{column}"
    assert says in error["message"]


def test_a_text_in_a_numeric_column_is_a_422_naming_the_column_and_row(trained) -> None:  # type: ignore[no-untyped-def]
    reply = predict_raw(trained, row_with('"forty-one"'))
    assert reply.status_code == 422 and reply.headers["content-type"].startswith(PROBLEM), reply.text
    [error] = reply.json()["errors"]
    assert error["path"] == "rows.0.age" and error["column"] == "age" and error["row"] == 1
    assert "forty-one" in error["message"]


def test_rows_without_a_column_the_model_needs_name_it(trained) -> None:  # type: ignore[no-untyped-def]
    client, headers, job_id = trained
    reply = client.post(f"/v1/jobs/{job_id}/predict", json={"rows": [{"age": 41}]}, headers=headers)
    assert reply.status_code == 422 and reply.headers["content-type"].startswith(PROBLEM), reply.text
    [error] = reply.json()["errors"]
    assert error["path"].startswith("rows") and error["column"] in ROW


def test_a_number_longer_than_json_reads_is_a_problem_not_a_500(trained) -> None:  # type: ignore[no-untyped-def]
    reply = predict_raw(trained, row_with("1" + "0" * 5000))  # past Python's 4300-digit int limit
    assert 400 <= reply.status_code < 500 and reply.headers["content-type"].startswith(PROBLEM), reply.text
