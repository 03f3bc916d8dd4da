"""schemathesis against the live OpenAPI schema: no 5xx, no response that breaks the schema."""

from __future__ import annotations

import pytest

from bench.fuzz_api import fuzz

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_over_a_thousand_generated_requests_find_no_server_error_or_schema_violation() -> None:
    generated, failures, output = fuzz("embedded", examples=9)
    assert generated >= 1000, output[-3000:]
    assert failures == 0, output[output.find("FAILURES"):][:8000]
