"""What the dashboard's browser tests share: a signed-in page, closing it with no script errors,
where screenshots go, the viewports."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from support.stack import REPO, Stack

# The browser tests always take their screenshots; they replace the README's only when asked
# (ADAMANT_UPDATE_SCREENSHOTS=1), so a test run leaves the checkout as it found it.
SCREENSHOTS = (REPO / "docs" / "screenshots") if os.environ.get("ADAMANT_UPDATE_SCREENSHOTS") == "1" else (
    Path(tempfile.gettempdir()) / "adamant-screenshots")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def open_page(browser, stack: Stack, key: str | None, route: str = "", *, viewport=DESKTOP, poll_scale: float | None = None):  # type: ignore[no-untyped-def]
    """A fresh browser context signed in (the key put in sessionStorage, as the sign-in form does)."""
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    script = ""
    if key:
        script += f"sessionStorage.setItem('adamant.apiKey', {json.dumps(key)});"
    if poll_scale:
        script += f"sessionStorage.setItem('adamant.pollScale', '{poll_scale}');"
    if script:
        context.add_init_script(script)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{stack.base_url}/{route}")
    page.errors = errors  # type: ignore[attr-defined]
    return page


def close(page) -> None:  # type: ignore[no-untyped-def]
    errors = page.errors
    page.context.close()
    assert not errors, errors


def horizontal_overflow(page) -> int:  # type: ignore[no-untyped-def]
    """How many pixels the page is wider than the window (0: no horizontal scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def wait_until(page, predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    """Waiting inside Playwright (not time.sleep), so the page's events keep arriving."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
