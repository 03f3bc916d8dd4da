"""Predict in the service (POST /v1/jobs/{id}/predict), torch-free: a few rows in, answered at once.

Scorers (weights + preprocessing, verified against their sha256 once) are cached per
checkpoint directory and manifest hash, so repeated predictions skip loading.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from adamant.scoring import Scorer, load_scorer, score_rows

CACHE_SIZE = 32


def scorer_for(cache: dict[tuple[str, str], Scorer], directory: Path, sha256: str) -> Scorer:
    key = (str(directory), sha256)
    scorer = cache.get(key)
    if scorer is None:
        scorer = load_scorer(directory)
        if len(cache) >= CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[key] = scorer
    return scorer


def predict_rows(scorer: Scorer, rows: list[dict[str, Any]], top_k: int) -> list[dict[str, Any]]:
    frame = score_rows(scorer, rows, top_k=top_k)
    return [{k: _plain(v) for k, v in record.items()} for record in frame.to_dict(orient="records")]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):  # JSON has no NaN/Infinity: an overflowed score is null
        return None
    return value
