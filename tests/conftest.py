"""Fixtures every test layer shares: where the public datasets live and small synthetic tables."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from support.ci_skips import pytest_configure  # noqa: F401  (under CI=true a skip fails the run)
from support.data import shared_datasets, synthetic_customers


@pytest.fixture(scope="session")
def movielens_path() -> Path:
    path = shared_datasets() / "movielens-100k" / "u.data"
    if not path.exists():
        pytest.skip(f"movielens-100k is not at {path} (set ADAMANT_SHARED_DATASETS): its licence forbids copying it "
                    "into the project")
    return path


@pytest.fixture(scope="session", autouse=True)
def scratch_adamant_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Code that falls back to the default ADAMANT_HOME (./var, the local service's folder) writes
    to a scratch folder instead: the prepared-data cache of a local training, for one."""
    os.environ.setdefault("ADAMANT_HOME", str(tmp_path_factory.mktemp("adamant-home")))


@pytest.fixture
def customers() -> pd.DataFrame:
    return synthetic_customers()


# The longest files first: `scripts/test.sh` runs two test processes that take whole files
# (`--dist loadfile`), and a long file picked up last would leave the other process idle.
LONGEST_FIRST = (
    "tests/system/test_faults.py",
    "tests/service/test_fuzz.py",
    "tests/service/test_sweeps.py",
    "tests/worker/engine/test_quality.py",
    "tests/deploy/test_processes.py",
    "tests/client/test_cli.py",
    "tests/dashboard/test_dashboard.py",
    "tests/service/test_scoring.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(LONGEST_FIRST)))  # stable: file order kept
