"""A fork server killed with its worker (SIGKILL to the process group) cannot remove its socket's
folder; the next server started on the machine removes it, and nothing that is still in use."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from support.stack import wait_until
from worker.job_process import FOLDER_PREFIX, OWNER_FILE, remove_stale_folders

STARTS_A_SERVER = """
import sys
from worker import job_process
job_process._server().connect().close()  # the server listens: its folder is in use
print(job_process._servers[0].folder, flush=True)
sys.stdin.read()  # until killed
"""


def folder(root: Path, name: str, owner: int | None) -> Path:
    path = root / (FOLDER_PREFIX + name)
    path.mkdir()
    if owner is not None:
        (path / OWNER_FILE).write_text(str(owner))
    return path


def test_only_folders_whose_owner_is_gone_are_removed(tmp_path: Path) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = folder(tmp_path, "dead", int(finished.stdout))
    alive = folder(tmp_path, "alive", os.getpid())
    starting = folder(tmp_path, "starting", None)  # made, its owner file not yet written
    other = tmp_path / "someone-else"
    other.mkdir()

    assert remove_stale_folders(tmp_path) == [dead]
    assert not dead.exists() and alive.exists() and starting.exists() and other.exists()


def start_worker(env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    """A process that starts its fork server as a worker does; (it, the server's folder)."""
    worker = subprocess.Popen([sys.executable, "-c", STARTS_A_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=env, start_new_session=True)
    return worker, Path(worker.stdout.readline().strip())


@pytest.mark.integration
def test_a_server_killed_with_its_worker_leaves_a_folder_the_next_server_removes(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    worker, left = start_worker(env)
    try:
        assert left.parent == tmp_path and (left / "server.sock").exists()
        assert (left / OWNER_FILE).read_text() == str(worker.pid)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its fork server: no one cleans up
        worker.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and subprocess.run(["pgrep", "-g", str(worker.pid)], capture_output=True).returncode == 0:
        time.sleep(0.1)  # the server is gone too
    assert left.exists()

    second, its_folder = start_worker(env)  # the next worker's server removes it first
    try:
        assert not left.exists() and (its_folder / "server.sock").exists()
    finally:
        second.terminate()  # the server leaves when its owner is gone, and removes its own folder
        second.wait()
    wait_until(lambda: not its_folder.exists(), "the second server to remove its own folder", 10)


@pytest.mark.integration
def test_a_forked_trainer_builds_its_optimizer_without_importing_anything(tmp_path: Path) -> None:
    """torch.optim imports torch._dynamo and sympy at an optimizer's first parameter group (~2 s a
    job); the fork server has imported them, so its children start their first step at once."""
    tests = Path(__file__).resolve().parents[1]
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])}
    worker, folder = start_worker(env)
    log = tmp_path / "probe.log"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(str(folder / "server.sock"))
            request = {"module": "support.fork_probe", "job_id": "probe", "token": 1, "log_path": str(log),
                       "environment": env, "cwd": str(tests.parent)}
            connection.sendall(json.dumps(request).encode() + b"\n")
            connection.settimeout(60)
            reply = b""
            while reply.count(b"\n") < 2:  # "pid <n>", then "exit <code>"
                chunk = connection.recv(64)
                assert chunk, reply
                reply += chunk
    finally:
        worker.terminate()
        worker.wait()
    assert reply.split(b"\n")[1] == b"exit 0", log.read_text()
    imported = log.read_text().split("imported:", 1)[1].strip().split(",")
    assert not [name for name in imported if name.startswith(("torch._dynamo", "sympy"))], imported


def test_a_server_whose_preload_initialised_cuda_refuses_to_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A driver initialised before fork is broken in every child: better no server (the job says
    so) than GPU jobs failing one by one. Only a CUDA build can get here; its torch is faked."""
    from worker import fork_server

    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=types.SimpleNamespace(is_initialized=lambda: True)))
    monkeypatch.setattr(fork_server, "PRELOAD", ())
    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "0")  # restored after; the server sets it to 1
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        assert fork_server.main([str(tmp_path / "server.sock")]) == 1
    finally:
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGINT, handlers[1])
    assert "ADAMANT_FORK_JOBS=false" in capsys.readouterr().err
    assert not (tmp_path / "server.sock").exists()  # it never listened
