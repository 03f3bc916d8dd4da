"""When the client sends a request again, and how long it waits first."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from client.retries import RetryPolicy, parse_retry_after

POLICY = RetryPolicy(retries=3, backoff_s=0.5, max_backoff_s=4, max_retry_after_s=30, jitter=False)
REQUEST = httpx.Request("POST", "http://adamant.invalid/v1/jobs")


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried_only_when_replay_is_safe(status: int) -> None:
    assert POLICY.delay(0, replay_safe=True, status=status) == 0.5
    assert POLICY.delay(0, replay_safe=False, status=status) is None


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422, 500])
def test_errors_a_retry_cannot_fix_are_not_retried(status: int) -> None:
    assert POLICY.delay(0, replay_safe=True, status=status) is None


def test_429_is_retried_even_when_not_replay_safe_and_waits_its_retry_after() -> None:
    assert POLICY.delay(0, replay_safe=False, status=429, retry_after="7") == 7.0
    assert POLICY.delay(0, replay_safe=True, status=429) == 0.5  # no Retry-After: the backoff


def test_a_retry_after_longer_than_the_cap_is_reported_not_waited_out() -> None:
    assert POLICY.delay(0, replay_safe=True, status=429, retry_after="60") is None


def test_retry_after_never_shortens_the_backoff() -> None:
    assert POLICY.delay(2, replay_safe=True, status=503, retry_after="0") == 2.0


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    header = format_datetime(now + timedelta(seconds=12), usegmt=True)
    assert parse_retry_after(header, now) == 12.0
    assert POLICY.delay(0, replay_safe=True, status=503, retry_after=header, now=now) == 12.0
    assert parse_retry_after("soon") is None
    assert POLICY.delay(1, replay_safe=True, status=503, retry_after="soon") == 1.0


def test_backoff_doubles_up_to_its_cap_and_stops_after_the_last_retry() -> None:
    delays = [POLICY.delay(a, replay_safe=True, status=503) for a in range(4)]
    assert delays == [0.5, 1.0, 2.0, None]
    assert RetryPolicy(retries=10, backoff_s=1, max_backoff_s=4, jitter=False).backoff(6) == 4


def test_jitter_stays_within_half_again_the_backoff() -> None:
    policy = RetryPolicy(backoff_s=1.0)
    assert all(1.0 <= policy.backoff(0) <= 1.5 for _ in range(200))


def test_a_connection_that_never_opened_is_retried_whatever_the_request() -> None:
    refused = httpx.ConnectError("refused", request=REQUEST)
    assert POLICY.delay(0, replay_safe=False, error=refused) == 0.5
    assert POLICY.delay(0, replay_safe=False, error=httpx.ConnectTimeout("slow", request=REQUEST)) == 0.5


def test_a_connection_lost_after_sending_is_retried_only_when_replay_is_safe() -> None:
    for error in (httpx.ReadTimeout("slow", request=REQUEST), httpx.RemoteProtocolError("reset", request=REQUEST)):
        assert POLICY.delay(0, replay_safe=True, error=error) == 0.5
        assert POLICY.delay(0, replay_safe=False, error=error) is None


def test_errors_that_are_not_the_transports_are_not_retried() -> None:
    assert POLICY.delay(0, replay_safe=True, error=ValueError("bad json")) is None
