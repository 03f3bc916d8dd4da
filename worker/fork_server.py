"""The fork server: `python -m worker.fork_server SOCKET` (started by worker/job_process.py).

It imports what a job's process needs (torch, pandas, SQLAlchemy, the engine) once, then
listens on a Unix socket. Each connection carries one request, a JSON line {module, job_id,
token, log_path, environment, cwd}; the server forks, answers `pid <n>`, and when that child
ends answers `exit <code>` (minus the signal that killed it) on the same connection. The
child becomes the job's process (become_job_process). The socket lies in a folder only its user can
enter. The server exits once the process that started it is gone; its children run on, and notice (their parent changes) as they would have
noticed their supervisor's death.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import socket
import sys
import traceback
from typing import Any

from worker.job_process import OWNER_FILE

# torch._dynamo: torch.optim imports it (and sympy with it) at an optimizer's first parameter group,
# ~2 s that every forked trainer paid before its first step. Importing it should touch no CUDA; main checks.
PRELOAD = ("numpy", "pandas", "sqlalchemy", "torch", "torch._dynamo", "worker.trainer_process", "worker.engine.run",
           "worker.scoring_job")


def main(argv: list[str] | None = None) -> int:
    path = (sys.argv[1:] if argv is None else argv)[0]
    owner, server = os.getppid(), os.getpid()
    # A signal to the worker's whole process group (Ctrl-C, `tini -g`, a test stopping a stack) must
    # not end the server before its supervisors: they still wait for their jobs' exit statuses while
    # the jobs drain. It leaves when its owner is gone, and cleans up after itself then.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Should anything preloaded ask whether CUDA is there, NVML answers, which leaves the driver
    # uninitialised (torch's default asks the driver, and a driver initialised here is broken in
    # every child). The children get the supervisor's environment back.
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"
    for name in PRELOAD:
        with contextlib.suppress(Exception):  # a module that fails here fails in the child, where the job reports it
            importlib.import_module(name)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        print("fork server: preloading initialised CUDA, so no forked job could use it; "
              "run jobs in fresh interpreters with ADAMANT_FORK_JOBS=false", file=sys.stderr, flush=True)
        return 1
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    children: dict[int, socket.socket] = {}
    try:
        while os.getppid() == owner:
            ready, _, _ = select.select([listener], [], [], 0.05)
            if ready:
                connection, _ = listener.accept()
                _fork(connection, listener, children)
            _reap(children)
    finally:
        if os.getpid() == server:  # not in a child that raised its way back here
            for name in (path, os.path.join(os.path.dirname(path), OWNER_FILE)):
                with contextlib.suppress(OSError):
                    os.unlink(name)
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(path))
    return 0


def _fork(connection: socket.socket, listener: socket.socket, children: dict[int, socket.socket]) -> None:
    request = b""
    connection.settimeout(10)
    try:
        while not request.endswith(b"\n"):
            chunk = connection.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the request ended")
            request += chunk
    except OSError:
        connection.close()
        return
    pid = os.fork()
    if pid == 0:
        listener.close()
        for other in children.values():
            other.close()
        connection.close()
        become_job_process(json.loads(request))
    children[pid] = connection
    with contextlib.suppress(OSError):
        connection.sendall(f"pid {pid}\n".encode())


def _reap(children: dict[int, socket.socket]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = children.pop(pid, None)
        if connection is not None:
            with contextlib.suppress(OSError):  # the supervisor may be gone: nobody to tell
                connection.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
            connection.close()


def become_job_process(request: dict[str, Any]) -> None:
    """In the forked child: what `python -m <module> JOB TOKEN` would have been; never returns."""
    try:
        os.setsid()
        output = os.open(request["log_path"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - the process's own streams
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        module, job_id, token = str(request["module"]), str(request["job_id"]), str(request["token"])
        with contextlib.suppress(ImportError):  # before the environment changes: it finds its room from it
            from setproctitle import setproctitle

            setproctitle(f"adamant {module} {job_id} {token}")
        os.environ.clear()
        os.environ.update(request["environment"])
        os.chdir(request["cwd"])
        sys.argv = [module, job_id, token]
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _reseed()
        from adamant.settings import get_settings
        from worker.leased_child import exit_process

        get_settings.cache_clear()  # the settings of the supervisor's environment, read now
        exit_process(importlib.import_module(module).main([job_id, token]))
    except BaseException:  # noqa: BLE001 - the child must never return into the server's loop
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)


def _reseed() -> None:
    """Each child its own random state, as a fresh interpreter would have (a job's own draws are
    seeded from its spec; this is for everything else)."""
    import random

    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    if "torch" in sys.modules:
        sys.modules["torch"].seed()


if __name__ == "__main__":
    sys.exit(main())
