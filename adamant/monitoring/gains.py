"""Gains and lift of scored, labelled rows: what a marketer reads to decide how deep into the file to mail.

Rows are ranked by score, best first (equal scores keep their order in the file), and cut
into `bins` groups as equal as np.array_split makes them (deciles by default). For each
group: its rows and responders, the response rate, the lift (response rate over the whole
file's), and cumulatively from the top: responders, gain (the share of all responders
reached) and lift. Every number is JSON-safe: a ratio with nothing to divide by is None,
never NaN.

Torch-free and numpy-only, so the service, the worker and the batch scorer share one
definition (worker/engine/metrics.py has an older copy that returns NaN instead of None).
"""

from __future__ import annotations

from typing import Any

import numpy as np

GAIN_FRACTIONS = (0.1, 0.2, 0.3)


def auc(y_true: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties at their average rank; None without both classes."""
    y, s = _labels_and_scores(y_true, scores)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    sorted_scores = s[order]
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(order)]])
    ranks = np.empty(len(order), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)  # 1-based average rank of each run
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def gains_table(y_true: np.ndarray, scores: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """One row per score group, best first (keys in the module doc, plus each group's score range)."""
    if bins < 1:
        raise ValueError(f"bins must be 1 or more, not {bins}")
    y, s = _labels_and_scores(y_true, scores)
    order = np.argsort(-s, kind="mergesort")
    total_rows, total_hits = len(y), int(y.sum())
    base = total_hits / total_rows if total_rows else 0.0
    table: list[dict[str, Any]] = []
    cumulative_rows = cumulative_hits = 0
    for group, idx in enumerate(np.array_split(order, bins), start=1):
        hits = int(y[idx].sum())
        cumulative_rows += len(idx)
        cumulative_hits += hits
        rate = _ratio(hits, len(idx))
        cumulative_rate = _ratio(cumulative_hits, cumulative_rows)
        table.append(
            {
                "decile": group,
                "rows": len(idx),
                "min_score": float(s[idx].min()) if len(idx) else None,
                "max_score": float(s[idx].max()) if len(idx) else None,
                "responders": hits,
                "response_rate": rate,
                "lift": _ratio(rate, base),
                "cumulative_rows": cumulative_rows,
                "cumulative_responders": cumulative_hits,
                "cumulative_gain": _ratio(cumulative_hits, total_hits),
                "cumulative_lift": _ratio(cumulative_rate, base),
            }
        )
    return table


def lift_summary(y_true: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """AUC, the top decile's lift, and the share of responders reached in the top 10/20/30% by score."""
    y, s = _labels_and_scores(y_true, scores)
    total_rows, total_hits = len(y), int(y.sum())
    base = total_hits / total_rows if total_rows else 0.0
    order = np.argsort(-s, kind="mergesort")
    summary: dict[str, Any] = {
        "rows": total_rows,
        "responders": total_hits,
        "response_rate": _ratio(total_hits, total_rows),
        "auc": auc(y, s),
    }
    for fraction in GAIN_FRACTIONS:
        top = order[: max(1, int(round(total_rows * fraction)))] if total_rows else order
        hits = int(y[top].sum())
        if fraction == 0.1:
            summary["top_decile_lift"] = _ratio(_ratio(hits, len(top)), base)
        summary[f"gain_at_{round(fraction * 100)}"] = _ratio(hits, total_hits)
    return summary


def _labels_and_scores(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be 1-D and of one length")
    if y.dtype != bool:
        values = y.astype(np.float64)
        if not np.isin(values, (0.0, 1.0)).all():
            raise ValueError("labels must be 0/1 or booleans (drop unlabelled rows first)")
        y = values == 1.0
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    return y, s


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return float(numerator / denominator)
