"""Fixtures every test layer shares: where the public datasets live and small synthetic tables."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from support.data import synthetic_customers

REPO = Path(__file__).resolve().parents[1]


def shared_datasets() -> Path:
    """../shared/datasets beside the checkout, or ADAMANT_SHARED_DATASETS (movielens lives there only)."""
    candidates = [os.environ.get("ADAMANT_SHARED_DATASETS"), REPO.parent / "shared" / "datasets", "/work/shared/datasets"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def movielens_path() -> Path:
    path = shared_datasets() / "movielens-100k" / "u.data"
    if not path.exists():
        pytest.skip(f"movielens-100k is not at {path}: its licence forbids copying it into the project")
    return path


@pytest.fixture
def customers() -> pd.DataFrame:
    return synthetic_customers()
