"""One live stack (API + CPU worker) and one Chromium for the dashboard tests of a module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.stack import Stack, create_tenant, make_stack

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The embedded stack; the worker runs two jobs at a time, so a long job and the sweep's
    trials do not queue behind each other."""
    stack = make_stack("embedded", tmp_path_factory.mktemp("dashboard-stack"))
    try:
        stack.start_api()
        stack.start_worker(queues="cpu", concurrency=2)
        yield stack
    finally:
        # Every job has ended by now. A warm shutdown takes about 5 s, and now and then the
        # worker hangs in it after its last task: do not wait the default 20 s for that.
        stack.stop("worker", timeout=8)
        stack.stop_all()


@pytest.fixture(scope="module")
def tenant_key(stack: Stack) -> str:
    return create_tenant(stack, "dashboard")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian's chromium package): the dashboard tests drive a real browser")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the dev extra) is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()
