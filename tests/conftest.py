"""Fixtures every test layer shares: where the public datasets live and small synthetic tables."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

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


def synthetic_customers(rows: int = 2000, seed: int = 0) -> pd.DataFrame:
    """A propensity table with a known signal: numeric, categorical and a binary target."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows)
    spend = rng.gamma(2.0, 50.0, rows)
    channel = rng.choice(["email", "phone", "web"], rows)
    logit = -1.0 + 0.03 * (age - 45) + 0.01 * (spend - 100) + np.where(channel == "web", 1.0, 0.0)
    converted = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(rows)],
            "age": age,
            "spend": spend.round(2),
            "channel": channel,
            "converted": np.where(converted, "yes", "no"),
        }
    )


@pytest.fixture
def customers() -> pd.DataFrame:
    return synthetic_customers()
