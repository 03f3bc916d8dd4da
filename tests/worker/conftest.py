"""What the worker tests share: settings a real subprocess reads from the environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adamant.settings import Settings, get_settings
from adamant.store import migrate


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    # Trainers and scorers are subprocesses: they read their settings from the environment, like in production.
    for name in ("DATABASE_URL", "BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ADAMANT_HOME", str(tmp_path))
    monkeypatch.setenv("ADAMANT_TORCH_THREADS", "1")
    get_settings.cache_clear()
    settings = get_settings()
    migrate.upgrade(settings.database_url)
    yield settings
    get_settings.cache_clear()
