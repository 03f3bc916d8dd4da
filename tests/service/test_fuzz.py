"""schemathesis against the live OpenAPI schema: no 5xx, no response that breaks the schema, no
error, and every operation reached with real ids (bench/fuzz_api.py seeds them)."""

from __future__ import annotations

import pytest

from bench.fuzz_api import fuzz

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_over_a_thousand_generated_requests_find_no_server_error_schema_violation_or_error() -> None:
    run = fuzz("embedded", examples=9)
    assert run.generated >= 1000, run.output[-3000:]
    assert (run.failures, run.errors) == (0, 0), run.summary()
    assert run.exit_code == 0, run.summary()  # warnings that mean an operation went untested fail too
