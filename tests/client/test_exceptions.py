"""The service's problem details as the readable errors the `adamant` command prints."""

from __future__ import annotations

import httpx

from client.api import problem_from
from client.exceptions import EXIT_FAILURE, EXIT_USER_ERROR, NotConfigured, ProblemError, ServiceUnreachable, UsageError


def problem_response(status: int, body: dict) -> httpx.Response:
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


def test_a_validation_problem_names_each_field_once() -> None:
    errors = [
        {"path": "optimizer.lr", "message": "Input should be greater than 0", "type": "greater_than"},
        {"path": "training.epochs", "message": "Input should be less than or equal to 10000", "type": "less_than_equal"},
    ]
    detail = "; ".join(f"{e['path']}: {e['message']}" for e in errors)  # what the service sends
    error = problem_from(problem_response(422, {
        "type": "https://adamant.dev/problems/validation-error", "title": "Invalid request",
        "status": 422, "detail": detail, "instance": "/v1/jobs", "errors": errors,
    }))
    assert str(error).splitlines() == [
        "Invalid request (422)",
        "  optimizer.lr: Input should be greater than 0",
        "  training.epochs: Input should be less than or equal to 10000",
    ]
    assert error.exit_code == EXIT_USER_ERROR
    assert error.type.endswith("validation-error") and error.instance == "/v1/jobs"


def test_a_detail_that_says_more_than_the_fields_is_kept() -> None:
    error = ProblemError(422, "Invalid spec", "the model does not fit the task",
                         [{"path": "model.type", "message": "logistic cannot segment"}])
    assert str(error) == "Invalid spec (422): the model does not fit the task\n  model.type: logistic cannot segment"


def test_pydantic_style_loc_and_msg_are_read_too() -> None:
    error = ProblemError(422, "Unprocessable Entity", "", [{"loc": ["body", "dataset", "target"], "msg": "Field required"}])
    assert error.field_reasons == ["dataset.target: Field required"]


def test_a_dataset_error_names_column_and_row_without_a_dataset_prefix() -> None:
    error = ProblemError(422, "Invalid dataset", "column 'age' has text at row 7",
                         [{"path": "dataset", "message": "column 'age' has text", "column": "age", "row": 7}])
    assert error.field_reasons == ["column 'age' has text [row 7]"]


def test_a_problem_without_fields_shows_title_and_detail() -> None:
    error = problem_from(problem_response(409, {"title": "Conflict", "status": 409, "detail": "job job_1 is already cancelled"}))
    assert str(error) == "Conflict (409): job job_1 is already cancelled"
    assert error.exit_code == EXIT_USER_ERROR


def test_a_bare_proxy_error_keeps_its_status_and_some_text() -> None:
    error = problem_from(httpx.Response(502, text="<html><body>  Bad   gateway </body></html>"))
    assert error.status == 502 and "Bad gateway" in str(error)
    assert error.exit_code == EXIT_FAILURE


def test_exit_codes_split_what_the_user_fixes_from_failures() -> None:
    assert ProblemError(500, "Internal Server Error").exit_code == EXIT_FAILURE
    assert ProblemError(404, "Not found", "no job job_x").exit_code == EXIT_USER_ERROR
    assert ServiceUnreachable("http://x", "refused").exit_code == EXIT_FAILURE
    assert NotConfigured("no key").exit_code == UsageError("bad file").exit_code == EXIT_USER_ERROR
