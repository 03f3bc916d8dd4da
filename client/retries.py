"""When the client sends a request again, and after how long: the decision alone, with no I/O, so
it can be read (and tested) apart from the transport.

A request is sent again only when doing so cannot do harm twice:

- the connection could not be opened (nothing was sent): always;
- 429 Too Many Requests (the service refused it before doing anything): always, waiting the
  Retry-After it asked for;
- the connection broke or timed out after sending, or 502/503/504 (a proxy or an overloaded
  service; the request may or may not have run): only if it is replay-safe — a GET, or a POST
  that carries an Idempotency-Key.

The wait grows exponentially with jitter; a Retry-After longer than `max_retry_after_s` is not
waited out: the error goes to the user at once, naming the wait.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx

REPLAYABLE_STATUSES = frozenset({502, 503, 504})
THROTTLED_STATUS = 429


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3
    backoff_s: float = 0.25
    max_backoff_s: float = 8.0
    max_retry_after_s: float = 30.0
    jitter: bool = True

    def delay(self, attempt: int, *, replay_safe: bool, status: int | None = None,
              error: Exception | None = None, retry_after: str | None = None,
              now: datetime | None = None) -> float | None:
        """Seconds to wait before sending attempt `attempt + 1` (attempts count from 0), or None
        to give up and report what happened."""
        if attempt >= self.retries or not self._retryable(replay_safe, status, error):
            return None
        backoff = self.backoff(attempt)
        if status is None or retry_after is None:
            return backoff
        asked = parse_retry_after(retry_after, now)
        if asked is None:
            return backoff
        if asked > self.max_retry_after_s:
            return None
        return max(backoff, asked)

    def backoff(self, attempt: int) -> float:
        base = min(self.backoff_s * 2**attempt, self.max_backoff_s)
        return base * (1 + random.random() / 2) if self.jitter else base

    @staticmethod
    def _retryable(replay_safe: bool, status: int | None, error: Exception | None) -> bool:
        if error is not None:
            # ConnectError/ConnectTimeout: the request never left; anything later may have run.
            not_sent = isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout))
            return isinstance(error, httpx.TransportError) and (not_sent or replay_safe)
        if status == THROTTLED_STATUS:
            return True
        return status in REPLAYABLE_STATUSES and replay_safe


def parse_retry_after(value: str, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: delta-seconds (`120`) or an HTTP date; None if unreadable."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
