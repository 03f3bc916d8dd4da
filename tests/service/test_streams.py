"""Event streams (SSE) against the real service: open streams hold no database connection while
they wait, so the rest of the API keeps answering, and each tenant's streams are capped."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack

import httpx
import pytest

from support.stack import Stack, create_tenant

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CAP = 10  # ADAMANT_MAX_STREAMS_PER_TENANT's default
# Over the service's pool on PostgreSQL (pool_size 20 + max_overflow 20, service/app.py) and on
# SQLite (QueuePool 5 + 10): one connection held per stream would starve every other request.
STREAMS = 45


def waiting_spec() -> dict:
    """A job that stays queued: it needs a GPU worker and the test stack has none."""
    return {
        "task": "binary_classification",
        "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
        "model": {"type": "logistic"},
        "resources": {"device": "cuda"},
    }


def submit_waiting_job(stack: Stack, key: str) -> str:
    with stack.client(key) as client:
        reply = client.post("/v1/jobs", json=waiting_spec())
        assert reply.status_code == 202, reply.text
        return reply.json()["id"]


async def open_stream(stack: Stack, exits: AsyncExitStack, key: str, job_id: str) -> httpx.Response:
    """An event stream that the service has started answering (its first event has arrived)."""
    client = await exits.enter_async_context(
        httpx.AsyncClient(base_url=stack.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
    )
    response = await exits.enter_async_context(client.stream("GET", f"/v1/jobs/{job_id}/events"))
    if response.status_code == 200:
        lines = response.aiter_lines()
        await anext(lines)
        # Held until the exit stack closes: a line iterator dropped now would close the stream.
        exits.push_async_callback(lines.aclose)
    return response


def timed_get(stack: Stack, key: str, path: str) -> tuple[int, float]:
    started = time.monotonic()
    with stack.client(key) as client:
        status = client.get(path).status_code
    return status, time.monotonic() - started


def test_many_open_streams_leave_the_api_answering(stack: Stack) -> None:
    tenants = [create_tenant(stack, f"streams-{i}-{stack.kind}") for i in range(STREAMS // (CAP - 1) + 1)]
    jobs = {key: submit_waiting_job(stack, key) for key in tenants}
    owners = [tenants[i % len(tenants)] for i in range(STREAMS)]

    async def scenario() -> list[tuple[int, float]]:
        async with AsyncExitStack() as exits:
            opened = await asyncio.gather(*(open_stream(stack, exits, key, jobs[key]) for key in owners))
            assert [r.status_code for r in opened] == [200] * STREAMS
            await asyncio.sleep(1.0)  # every stream has polled at least once more
            key = tenants[0]
            return [
                await asyncio.to_thread(timed_get, stack, key, "/healthz"),
                await asyncio.to_thread(timed_get, stack, key, f"/v1/jobs/{jobs[key]}"),
                await asyncio.to_thread(timed_get, stack, key, "/v1/jobs"),
            ]

    answers = asyncio.run(scenario())
    assert [status for status, _ in answers] == [200, 200, 200]
    assert max(seconds for _, seconds in answers) < 1.0, answers


def test_a_tenant_past_its_stream_cap_gets_429_while_others_still_stream(stack: Stack) -> None:
    greedy, other = create_tenant(stack, f"greedy-{stack.kind}"), create_tenant(stack, f"other-{stack.kind}")
    greedy_job, other_job = submit_waiting_job(stack, greedy), submit_waiting_job(stack, other)

    async def scenario() -> None:
        async with AsyncExitStack() as exits:
            held = [await open_stream(stack, exits, greedy, greedy_job) for _ in range(CAP)]
            assert [r.status_code for r in held] == [200] * CAP
            refused = await open_stream(stack, exits, greedy, greedy_job)
            assert refused.status_code == 429
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert int(refused.headers["Retry-After"]) > 0
            body = await refused.aread()
            assert b"too-many-streams" in body
            assert (await open_stream(stack, exits, other, other_job)).status_code == 200

            await held[0].aclose()  # a stream the client closes frees its place within a poll or two
            deadline = time.monotonic() + 10
            while True:
                again = await open_stream(stack, exits, greedy, greedy_job)
                if again.status_code == 200 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert again.status_code == 200

    asyncio.run(scenario())
