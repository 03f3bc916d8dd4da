"""Finding and signalling the processes a test wants to hurt (the trainer of a job, a worker)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def pids_with(*words: str) -> list[int]:
    """Processes whose command line contains every word."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if all(word in cmdline for word in words):
            found.append(int(entry.name))
    return found


def trainer_pid(job_id: str, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = pids_with("worker.trainer_process", job_id)
        if pids:
            return pids[0]
        time.sleep(0.05)
    raise AssertionError(f"no trainer process for {job_id}")


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(os.getpgid(pid), sig)
    except ProcessLookupError:
        pass


def wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:  # a zombie is gone too; the process may vanish between the two reads (ESRCH, ENOENT)
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return
        except (FileNotFoundError, ProcessLookupError):
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still alive")


KILL, STOP, CONT = signal.SIGKILL, signal.SIGSTOP, signal.SIGCONT
