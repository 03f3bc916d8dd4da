"""The client talks HTTP only: importing it pulls in neither torch, FastAPI nor the service."""

from __future__ import annotations

import subprocess
import sys

from support.stack import REPO

HEAVY = ("torch", "fastapi", "starlette", "service", "worker", "sqlalchemy", "celery")


def test_the_client_imports_neither_torch_fastapi_nor_the_service() -> None:
    probe = (
        "import sys, client.cli, client.api, client.follow, client.archives; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
