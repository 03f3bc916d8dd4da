"""Data for tests: where the shared public datasets live, and small synthetic tables with a known signal."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]


def shared_datasets() -> Path:
    """ADAMANT_SHARED_DATASETS if set, else ../shared/datasets beside the checkout (movielens lives
    there only). Never a machine's absolute path: a checkout elsewhere sets the variable."""
    configured = os.environ.get("ADAMANT_SHARED_DATASETS")
    return Path(configured) if configured else REPO.parent / "shared" / "datasets"


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
