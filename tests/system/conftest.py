"""Stacks the fault tests own alone (they kill and pause processes), started per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.stack import Stack, drop_pg_database, make_stack, postgres_available, redis_available


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    started: list[Stack] = []

    def start(kind: str = "cluster", **settings: str) -> Stack:
        if kind == "cluster" and not (postgres_available() and redis_available()):
            pytest.skip("needs PostgreSQL and Redis on 127.0.0.1 (scripts/test.sh starts them)")
        stack = make_stack(kind, tmp_path / f"stack{len(started)}", **settings)
        started.append(stack)
        return stack

    yield start
    for stack in started:
        stack.stop_all()
        if stack.database_url:
            drop_pg_database(stack.database_url)
