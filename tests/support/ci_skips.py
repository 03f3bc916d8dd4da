"""Under CI a skipped test fails the run: a suite must not go green because Redis, PostgreSQL,
a browser or a data set was missing. Only the reasons in ALLOWED_SKIPS may skip there.

Locally a skip stays a skip (a laptop without PostgreSQL still runs the rest). Loaded by
tests/conftest.py; a plugin of its own so the suite's tests can run it on a scratch suite.
"""

from __future__ import annotations

import os
import re

import pytest

# Skips that say something true about the machine rather than about a missing service. Each is
# a regular expression searched in the skip's reason; keep the list short and say why.
ALLOWED_SKIPS: dict[str, str] = {
    r"needs a CUDA device": "CI machines have no GPU; bench/cuda_checks.sh runs those tests on one",
    r"^movielens-100k is not at ": "its licence forbids a copy in the project: a checkout without ../shared "
                                  "(or ADAMANT_SHARED_DATASETS) cannot have it",
}


def ci_enforced() -> bool:
    """CI=true (GitHub Actions, GitLab, .ci/run) or CI=1 turns skips into failures."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def allowed(reason: str) -> bool:
    return any(re.search(pattern, reason) for pattern in ALLOWED_SKIPS)


class SkipsFailUnderCI:
    """Collects the skips CI does not allow, lists them in the summary and fails the session."""

    def __init__(self) -> None:
        self.forbidden: list[tuple[str, str]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Under xdist the controller sees every worker's reports through this same hook.
        if report.skipped and not hasattr(report, "wasxfail"):
            reason = skip_reason(report)
            if not allowed(reason):
                self.forbidden.append((report.nodeid, reason))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.forbidden:
            return
        terminalreporter.section("skipped under CI=true: each one fails the run", red=True, bold=True)
        for nodeid, reason in self.forbidden:
            terminalreporter.line(f"{nodeid}: {reason}", red=True)
        terminalreporter.line("Bring the missing service up (scripts/services.sh) or, if the skip is about the "
                              "machine, add its reason to ALLOWED_SKIPS in tests/support/ci_skips.py.")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(session.config, "workerinput"):
            return  # an xdist worker: the controller decides
        if self.forbidden and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    if ci_enforced():
        config.pluginmanager.register(SkipsFailUnderCI(), "adamant-skips-fail-under-ci")
