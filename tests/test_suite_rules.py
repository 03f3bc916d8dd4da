"""The suite's own rules: under CI a skip fails the run, and no test names a machine's path."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from support.ci_skips import ALLOWED_SKIPS
from support.data import REPO, shared_datasets

SCRATCH_SUITE = '''
import pytest

def test_runs():
    pass

def test_needs_redis():
    pytest.skip("needs Redis on 127.0.0.1:6379")
'''


def run_scratch_suite(folder: Path, source: str, ci: str | None, *args: str) -> subprocess.CompletedProcess:
    (folder / "test_scratch.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(REPO / "tests")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "support.ci_skips", "-p", "no:cacheprovider", "-q", "-rs",
         "-c", os.devnull, "--rootdir", str(folder), *args, str(folder)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120,
    )


def test_a_skip_fails_the_run_under_ci_and_names_the_test(tmp_path: Path) -> None:
    done = run_scratch_suite(tmp_path, SCRATCH_SUITE, "true")
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout
    assert "skipped under CI=true" in done.stdout
    assert "test_scratch.py::test_needs_redis: needs Redis on 127.0.0.1:6379" in done.stdout


def test_a_skip_fails_the_run_under_ci_with_several_test_processes(tmp_path: Path) -> None:
    done = run_scratch_suite(tmp_path, SCRATCH_SUITE, "true", "-n", "2")
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout
    assert "test_needs_redis: needs Redis" in done.stdout


def test_a_skip_is_only_a_skip_outside_ci(tmp_path: Path) -> None:
    done = run_scratch_suite(tmp_path, SCRATCH_SUITE, None)
    assert done.returncode == pytest.ExitCode.OK, done.stdout
    assert "1 passed, 1 skipped" in done.stdout


def test_an_allowed_skip_passes_under_ci(tmp_path: Path) -> None:
    source = SCRATCH_SUITE.replace("needs Redis on 127.0.0.1:6379", "needs a CUDA device; this machine has none")
    done = run_scratch_suite(tmp_path, source, "true")
    assert done.returncode == pytest.ExitCode.OK, done.stdout
    assert "needs a CUDA device" in ALLOWED_SKIPS


def test_a_failure_under_ci_still_reports_failure(tmp_path: Path) -> None:
    done = run_scratch_suite(tmp_path, SCRATCH_SUITE + "\ndef test_broken():\n    assert False\n", "true")
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout


def test_shared_datasets_are_found_beside_the_checkout_or_where_the_variable_says(monkeypatch: pytest.MonkeyPatch,
                                                                                    tmp_path: Path) -> None:
    monkeypatch.delenv("ADAMANT_SHARED_DATASETS", raising=False)
    assert shared_datasets() == REPO.parent / "shared" / "datasets"
    monkeypatch.setenv("ADAMANT_SHARED_DATASETS", str(tmp_path))
    assert shared_datasets() == tmp_path


def test_no_test_or_benchmark_names_a_machine_path() -> None:
    machine_path = re.compile(r"""["'](/work|/home|/Users|/root)/""")
    offenders = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for folder in ("tests", "bench")
        for path in sorted((REPO / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if machine_path.search(line)
    ]
    assert offenders == [], "\n".join(offenders)


def test_every_test_runs_under_a_timeout_and_the_slowest_are_listed() -> None:
    options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert 0 < int(options["timeout"]) <= 900  # a hung test fails with its stack instead of hanging CI
    assert "--durations=25" in options["addopts"].split()
