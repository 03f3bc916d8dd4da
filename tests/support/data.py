"""Small synthetic tables with a known signal, for tests that need data fast."""

from __future__ import annotations

import numpy as np
import pandas as pd


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
