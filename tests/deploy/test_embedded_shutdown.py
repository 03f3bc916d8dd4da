"""`python -m service.embedded` as a user runs it: stopping it stops its Celery worker (no
orphans), and its filesystem broker keeps everything under ADAMANT_HOME (nothing in the cwd)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.stack import REPO, free_port

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")]


@dataclass(frozen=True)
class Proc:
    pid: int
    started: int  # clock ticks after boot: tells a process from a later one given the same pid
    command: str


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) from /proc/PID/stat, or None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return fields[0], int(fields[1]), int(fields[19])


def descendants(root: int) -> list[Proc]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[1], []).append(int(entry.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        stat = _stat(pid)
        if stat is None:
            continue
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except FileNotFoundError:
            continue
        found.append(Proc(pid, stat[2], command))
        todo += children.get(pid, [])
    return found


def alive(proc: Proc) -> bool:
    stat = _stat(proc.pid)
    return stat is not None and stat[2] == proc.started and stat[0] != "Z"  # a zombie has exited


@dataclass
class Embedded:
    process: subprocess.Popen[bytes]
    home: Path
    cwd: Path
    port: int
    log: Path

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Embedded]:
    """The embedded service started from an empty folder, once its API answers and its worker
    has bound its queues (which writes the broker's exchange tables)."""
    home, cwd, port = tmp_path / "home", tmp_path / "cwd", free_port()
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADAMANT_") and k not in ("DATABASE_URL", "BROKER_URL")}
    env.update({
        "ADAMANT_HOME": str(home), "ADAMANT_PORT": str(port), "ADAMANT_ADMIN_KEY": "adm_test_" + secrets.token_urlsafe(24),
        "ADAMANT_TORCH_THREADS": "1", "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1",
    })
    log = tmp_path / "embedded.log"
    process = subprocess.Popen([sys.executable, "-m", "service.embedded"], cwd=cwd, env=env,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)
    running = Embedded(process, home, cwd, port, log)
    family: list[Proc] = []
    try:
        deadline = time.monotonic() + 90
        while not _ready(running):
            assert process.poll() is None, f"service.embedded exited with {process.returncode}:\n{running.log_tail()}"
            assert time.monotonic() < deadline, f"service.embedded not ready after 90 s:\n{running.log_tail()}"
            time.sleep(0.3)
        family = descendants(process.pid)
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        for proc in family:  # whatever a failed test left behind
            if alive(proc):
                os.kill(proc.pid, signal.SIGKILL)


def _ready(embedded: Embedded) -> bool:
    try:
        if httpx.get(f"http://127.0.0.1:{embedded.port}/healthz", timeout=2).status_code != 200:
            return False
    except httpx.HTTPError:
        return False
    # Where the tables land is the last test's business; here they only say the worker is up.
    return any((folder / "cpu.exchange").exists() for folder in (embedded.home / "broker" / "control", embedded.cwd / "control"))


def wait_gone(procs: list[Proc], timeout: float) -> list[Proc]:
    """The processes still running after `timeout` seconds (none, if all stopped in time)."""
    deadline = time.monotonic() + timeout
    while (left := [p for p in procs if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_sigterm_stops_the_embedded_service_and_its_worker(embedded: Embedded) -> None:
    family = descendants(embedded.process.pid)
    assert any("celery" in p.command for p in family), family

    embedded.process.send_signal(signal.SIGTERM)

    embedded.process.wait(timeout=60)
    left = wait_gone(family, timeout=10)
    assert left == [], f"still running after SIGTERM: {left}\n{embedded.log_tail()}"
    assert embedded.process.returncode == 128 + signal.SIGTERM


def test_a_worker_whose_embedded_parent_was_killed_stops_itself(embedded: Embedded) -> None:
    family = descendants(embedded.process.pid)
    assert any("celery" in p.command for p in family), family

    embedded.process.kill()  # no chance to stop the worker itself
    embedded.process.wait(timeout=10)

    left = wait_gone(family, timeout=30)
    assert left == [], f"orphans after the parent was killed: {left}\n{embedded.log_tail()}"


def test_the_filesystem_broker_keeps_its_exchange_tables_under_adamant_home(embedded: Embedded) -> None:
    assert {"cpu.exchange", "gpu.exchange"} <= {p.name for p in (embedded.home / "broker" / "control").iterdir()}
    assert not (embedded.cwd / "control").exists()
    assert list(embedded.cwd.iterdir()) == []
