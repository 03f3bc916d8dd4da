"""Structured logs: every line is one JSON object carrying the job it concerns."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from adamant.logging_setup import bind_job, clear_job, configure_logging, job_context


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger writing JSON into a buffer; the previous handlers come back after."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging(SimpleNamespace(log_format="json", log_level="INFO"), "trainer", stream=stream)
    yield stream
    clear_job()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_parse_and_carry_the_job_of_their_context(captured: io.StringIO) -> None:
    log = logging.getLogger("adamant.test")
    log.info("before any job")
    with job_context(job_id="job_0123abcd", tenant_id="tnt_1", attempt=2):
        log.warning("training %s", "started", extra={"step": 5})
    log.info("after the job")

    before, during, after = lines(captured)
    assert "job_id" not in before and "job_id" not in after
    assert during["job_id"] == "job_0123abcd" and during["tenant_id"] == "tnt_1" and during["attempt"] == 2
    assert during["message"] == "training started" and during["level"] == "warning"
    assert during["logger"] == "adamant.test" and during["process"] == "trainer" and during["step"] == 5
    assert during["time"].endswith("Z")


def test_a_job_bound_to_the_process_reaches_every_thread(captured: io.StringIO) -> None:
    bind_job(job_id="job_00ff", attempt=1)
    thread = threading.Thread(target=lambda: logging.getLogger("adamant.keepalive").info("beat"))
    thread.start()
    thread.join()
    logging.getLogger("adamant.test").info("main", extra={"job_id": "job_explicit"})

    beat, main = lines(captured)
    assert beat["job_id"] == "job_00ff" and beat["attempt"] == 1
    assert main["job_id"] == "job_explicit"  # extra= wins


def test_tracebacks_stay_inside_one_json_line(captured: io.StringIO) -> None:
    with job_context(job_id="job_0bad"):
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("adamant.test").exception("failed")

    (record,) = lines(captured)
    assert record["job_id"] == "job_0bad" and "ValueError: boom" in record["exc_info"]


def test_text_format_names_the_job_for_a_person() -> None:
    root = logging.getLogger()
    saved = list(root.handlers)
    stream = io.StringIO()
    try:
        configure_logging(SimpleNamespace(log_format="text", log_level="INFO"), "service", stream=stream)
        with job_context(job_id="job_0042"):
            logging.getLogger("adamant.test").info("polled")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
    assert "[job_0042] polled" in stream.getvalue()
