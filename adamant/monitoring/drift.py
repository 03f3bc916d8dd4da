"""The drift report: new rows (and their scores) against the training rows' reference profile.

Each input column is binned as its profile says (adamant/monitoring/profile.py) and compared
with the training shares by the population stability index,

    PSI = sum over bins of (a - e) * ln(a / e),

with a and e the new and the training share of a bin, each floored at 1e-4 so an empty bin
counts as rare rather than infinitely surprising. The status follows the common industry rule
of thumb from credit-scorecard monitoring (e.g. Siddiqi, "Credit Risk Scorecards", 2006):
PSI < 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a significant shift. It is a
convention, not a significance test: on a few hundred rows, sampling noise alone moves PSI
(Yurdakul, "Statistical Properties of Population Stability Index", 2018), so the report
says how many rows it compared.

Beside PSI, per column: numeric, a Kolmogorov-Smirnov-style distance (the largest gap
between the two cumulative distributions of observed values over the profile's bins, so a
lower bound of the exact KS statistic) and the mean's shift in training standard deviations;
categorical, the total variation distance (half the summed absolute share differences) and
the share of rows whose level training never saw; both, the share missing then and now.

The verdict is "retrain recommended" when an important feature (profile.py says which) or the
score distribution shifted significantly, "monitor" when anything shifted at least
moderately, and "stable" otherwise. Every number is JSON-safe: None, never NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from adamant.exceptions import DatasetError
from adamant.monitoring.profile import (
    PROFILE_VERSION,
    SHARE_FLOOR,
    LevelKeys,
    bin_count,
    bin_labels,
    bin_shares,
    categorical_codes,
    level_keys,
    numeric_codes,
    numeric_moments,
    numeric_values,
    observed_values,
    reference_shares,
)

MODERATE_PSI = 0.1
SIGNIFICANT_PSI = 0.25
STABLE, MODERATE, SIGNIFICANT = "stable", "moderate shift", "significant shift"
RETRAIN, MONITOR = "retrain recommended", "monitor"
UNSEEN_LEVELS_LISTED = 10
CONVENTION = (
    "PSI < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 significant shift: the common industry rule of thumb "
    "from credit-scorecard monitoring (e.g. Siddiqi, Credit Risk Scorecards, 2006), not a significance test"
)


def population_stability_index(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of `actual` bin shares against `expected` ones (same bins), empty bins floored at 1e-4."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), SHARE_FLOOR)
    a = np.maximum(np.asarray(actual, dtype=np.float64), SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_status(psi: float) -> str:
    if psi > SIGNIFICANT_PSI:
        return SIGNIFICANT
    return MODERATE if psi >= MODERATE_PSI else STABLE


def drift_report(profile: dict[str, Any], frame: pd.DataFrame, *, scores: np.ndarray | None = None) -> dict[str, Any]:
    """Compare `frame` (and the model's `scores` for it) with the training profile.

    Returns {"rows", "reference_rows", "thresholds", "verdict", "reasons", "drifted",
    "features": [per column, highest PSI first], "score": {...} or None}. A feature entry has
    "column", "kind", "psi", "status", "important", "importance", "missing_then",
    "missing_now", "bins" ([{"bin", "reference", "current"}]) and, numeric: "ks",
    "mean_then", "mean_now", "mean_shift_std"; categorical: "tvd", "unseen_share",
    "unseen_levels" ([{"level", "share"}], the most frequent first).
    """
    if profile.get("version") != PROFILE_VERSION:
        raise ValueError(f"reference profile version {profile.get('version')!r} is not {PROFILE_VERSION}")
    if len(frame) == 0:
        raise DatasetError("The table has no rows to compare with the training data")
    absent = [column for column in profile["features"] if column not in frame.columns]
    if absent:
        raise DatasetError(f"The rows lack the column(s) the model was trained on: {', '.join(absent)}", column=absent[0])
    rows = np.arange(1, len(frame) + 1)
    features = [_feature_drift(column, entry, frame[column], rows) for column, entry in profile["features"].items()]
    features.sort(key=lambda feature: -feature["psi"])
    score = None
    if scores is not None and profile.get("score") is not None:
        score = _numeric_drift(profile["score"], _finite_or_nan(scores))
    verdict, reasons = _verdict(features, score)
    return {
        "rows": int(len(frame)),
        "reference_rows": profile["rows"],
        "thresholds": {"moderate": MODERATE_PSI, "significant": SIGNIFICANT_PSI, "convention": CONVENTION},
        "verdict": verdict,
        "reasons": reasons,
        "drifted": [feature["column"] for feature in features if feature["status"] != STABLE],
        "features": features,
        "score": score,
    }


def _feature_drift(column: str, entry: dict[str, Any], values: pd.Series, rows: np.ndarray) -> dict[str, Any]:
    if entry["kind"] == "numeric":
        report = _numeric_drift(entry, numeric_values(values, rows, datetime=entry["datetime"]))
    else:
        report = _categorical_drift(entry, level_keys(values))
    return {"column": column, "important": entry["important"], "importance": entry["importance"], **report}


def _numeric_drift(entry: dict[str, Any], values: np.ndarray) -> dict[str, Any]:
    expected = reference_shares(entry)
    actual = bin_shares(numeric_codes(entry, values), bin_count(entry))
    observed_bins = len(entry["edges"]) + 1
    now = numeric_moments(observed_values(values, entry["sentinel"]))
    std = entry["std"]
    if entry["mean"] is None or now["mean"] is None:
        shift = None
    elif std:
        shift = (now["mean"] - entry["mean"]) / std
    else:
        shift = 0.0 if now["mean"] == entry["mean"] else None
    return {
        "kind": "numeric",
        **_common(entry, expected, actual, missing_bin=observed_bins),
        "ks": _ks(expected[:observed_bins], actual[:observed_bins]),
        "mean_then": entry["mean"],
        "mean_now": now["mean"],
        "mean_shift_std": _finite(shift),
    }


def _categorical_drift(entry: dict[str, Any], keys: LevelKeys) -> dict[str, Any]:
    expected = reference_shares(entry)
    actual = bin_shares(categorical_codes(entry, keys), bin_count(entry))
    report = {
        "kind": "categorical",
        **_common(entry, expected, actual, missing_bin=len(entry["levels"]) + 1),
        "tvd": float(0.5 * np.abs(actual - expected).sum()),
        "unseen_share": None,
        "unseen_levels": [],
    }
    if entry["known_levels"] is not None:
        counts = keys.counts()
        unseen = (pd.Index(entry["known_levels"], dtype=object).get_indexer(keys.keys) < 0) & (counts > 0)
        ranked = sorted(zip(keys.keys[unseen], counts[unseen].tolist()), key=lambda item: (-item[1], item[0]))
        ranked = ranked[:UNSEEN_LEVELS_LISTED]
        report["unseen_share"] = float(counts[unseen].sum() / len(keys))
        report["unseen_levels"] = [{"level": level, "share": float(count / len(keys))} for level, count in ranked]
    return report


def _common(entry: dict[str, Any], expected: np.ndarray, actual: np.ndarray, *, missing_bin: int) -> dict[str, Any]:
    psi = population_stability_index(expected, actual)
    return {
        "psi": psi,
        "status": psi_status(psi),
        "missing_then": float(expected[missing_bin]),
        "missing_now": float(actual[missing_bin]),
        "bins": [
            {"bin": label, "reference": float(e), "current": float(a)}
            for label, e, a in zip(bin_labels(entry), expected, actual)
        ],
    }


def _ks(expected: np.ndarray, actual: np.ndarray) -> float | None:
    """Largest gap between the cumulative shares of observed values; None when a side has none."""
    e_total, a_total = expected.sum(), actual.sum()
    if e_total == 0 or a_total == 0:
        return None
    return float(np.max(np.abs(np.cumsum(expected / e_total) - np.cumsum(actual / a_total))))


def _verdict(features: list[dict[str, Any]], score: dict[str, Any] | None) -> tuple[str, list[str]]:
    reasons = []
    retrain = False
    for feature in features:
        if feature["status"] == STABLE:
            continue
        line = f"{feature['column']}: PSI {feature['psi']:.3f} ({feature['status']})"
        if feature["status"] == SIGNIFICANT and feature["important"]:
            retrain = True
        elif not feature["important"]:
            line += f"; not predictive at training (importance {feature['importance']:.4f})"
        reasons.append(line)
    if score is not None and score["status"] != STABLE:
        retrain = retrain or score["status"] == SIGNIFICANT
        reasons.insert(0, f"score: PSI {score['psi']:.3f} ({score['status']})")
    if retrain:
        return RETRAIN, reasons
    return (MONITOR if reasons else STABLE), reasons


def _finite_or_nan(scores: np.ndarray) -> np.ndarray:
    values = np.asarray(scores, dtype=np.float64).ravel()
    return np.where(np.isfinite(values), values, np.nan)


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None
