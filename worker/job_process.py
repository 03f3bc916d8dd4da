"""Starting a job's process (the trainer, or the scorer) in milliseconds instead of seconds.

A fresh interpreter spends about 2.5 s importing torch, pandas, SQLAlchemy and the engine
before a job's first step, on every job. Instead the supervisor asks a warm fork server to fork
each job's process: `python -m worker.fork_server`, started once per worker process (the first
job waits for its imports), a fresh interpreter that imports those modules and never touches
CUDA, so a child may initialise CUDA as a fresh interpreter would. The server forks, reaps its
children and tells the supervisor each one's exit status (worker/fork_server.py). A child is
what `python -m worker.trainer_process JOB TOKEN` was, and looks like it: its own session and
process group (which the supervisor signals as before), stdout and stderr to the attempt's log,
the supervisor's environment and working directory as they are at the start, the module's exit
code or minus the signal that killed it, and a command line that reads
`adamant worker.trainer_process JOB TOKEN`.

The server's socket lies in a folder of its own, `$TMPDIR/adamant-fork-*`, with an `owner` file
naming the worker process; the server removes the folder when that process is gone. A server
killed with it (SIGKILL to the worker's process group) cannot, so each new server first removes
the folders whose owner is no longer running (`remove_stale_folders`).

JobProcess gives the supervisor Popen's pid / wait / returncode for either way of starting.
ADAMANT_FORK_JOBS=false starts a fresh interpreter per job instead (subprocess), as before.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODULES = {"train": "worker.trainer_process", "score": "worker.scoring_job"}  # by job kind
FOLDER_PREFIX = "adamant-fork-"
OWNER_FILE = "owner"  # the pid of the worker process that started the folder's server
SERVER_START_S = 120.0  # how long a loaded machine may take to start the server and import torch


class JobProcess:
    """A job's process as the supervisor watches it: Popen's pid, wait(timeout) and returncode."""

    def __init__(self, pid: int, popen: subprocess.Popen | None = None, connection: socket.socket | None = None) -> None:  # type: ignore[type-arg]
        self.pid = pid
        self._popen = popen
        self._connection = connection
        self._buffer = b""
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        """The exit code; subprocess.TimeoutExpired if it still runs after `timeout` seconds."""
        if self.returncode is not None:
            return self.returncode
        if self._popen is not None:
            self.returncode = self._popen.wait(timeout=timeout)
            return self.returncode
        assert self._connection is not None
        self._connection.settimeout(timeout)
        while b"\n" not in self._buffer:
            try:
                chunk = self._connection.recv(64)
            except TimeoutError:
                raise subprocess.TimeoutExpired(f"job process {self.pid}", timeout or 0) from None
            if not chunk:  # the server is gone: the child's status with it; it counts as lost
                self._buffer += b"exit -9\n"
                break
            self._buffer += chunk
        self.returncode = int(self._buffer.split(b"\n", 1)[0].split()[1])
        self._connection.close()
        return self.returncode


def start(kind: str, job_id: str, token: int, log_path: Path, *, fork: bool = True) -> JobProcess:
    """Start the process of a job of `kind` ("train" or "score") for this lease."""
    if not fork:
        with log_path.open("ab") as output:
            popen = subprocess.Popen([sys.executable, "-m", MODULES[kind], job_id, str(token)], stdout=output,
                                     stderr=subprocess.STDOUT, start_new_session=True, cwd=os.getcwd())
        return JobProcess(popen.pid, popen=popen)
    request = {"module": MODULES[kind], "job_id": job_id, "token": token, "log_path": str(log_path),
               "environment": dict(os.environ), "cwd": os.getcwd()}
    connection = _server().connect()
    connection.sendall(json.dumps(request).encode() + b"\n")
    reply = b""
    connection.settimeout(30)
    while not reply.endswith(b"\n"):
        chunk = connection.recv(64)
        if not chunk:
            raise RuntimeError("the fork server closed the connection before starting the job's process")
        reply += chunk
    return JobProcess(int(reply.split()[1]), connection=connection)


class _Server:
    """This process's fork server: started on first use, restarted if it died."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        remove_stale_folders(Path(tempfile.gettempdir()))
        self.folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
        (self.folder / OWNER_FILE).write_text(str(self.owner))
        self.path = self.folder / "server.sock"
        self.process = subprocess.Popen([sys.executable, "-m", "worker.fork_server", str(self.path)], cwd=os.getcwd())

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.process.poll() is None

    def connect(self) -> socket.socket:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                connection.connect(str(self.path))
                return connection
            except (FileNotFoundError, ConnectionRefusedError):
                connection.close()
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the fork server did not start (exit code {self.process.poll()})") from None
                time.sleep(0.05)


_servers: list[_Server] = []


def remove_stale_folders(root: Path) -> list[Path]:
    """Remove the fork servers' folders under `root` whose owner process is gone (its server was
    killed with it); returns them. A folder without an owner file, or not this user's, stays."""
    removed = []
    for folder in root.glob(FOLDER_PREFIX + "*"):
        try:
            if folder.stat().st_uid != os.getuid():
                continue
            owner = int((folder / OWNER_FILE).read_text())
        except (OSError, ValueError):  # another user's, a folder being made, or not ours at all
            continue
        if not _running(owner):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


def _server() -> _Server:
    if not _servers or not _servers[0].alive():
        _servers[:] = [_Server()]
    return _servers[0]
