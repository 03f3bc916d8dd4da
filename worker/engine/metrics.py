"""Evaluation metrics per task, as plain numpy functions of predictions and truth.

These are the numbers a marketer reads: AUC and lift for whom to contact, RMSE for how far a
predicted value or rating is off, HR/NDCG@10 for whether the right product makes the list,
silhouette and segment sizes for whether segments are real.
"""

from __future__ import annotations

import numpy as np


def auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula; ties get their average rank."""
    y = np.asarray(y_true).astype(bool)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = np.asarray(scores)[order]
    ranks = np.empty(len(order), dtype=np.float64)
    # Average ranks over runs of equal scores.
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(order)]])
    avg = (starts + ends + 1) / 2.0  # 1-based average rank of each run
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def log_loss(y_true: np.ndarray, prob: np.ndarray, eps: float = 1e-12) -> float:
    p = np.clip(np.asarray(prob, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(y_true, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def multiclass_log_loss(y_true: np.ndarray, prob: np.ndarray, eps: float = 1e-12) -> float:
    p = np.clip(np.asarray(prob, dtype=np.float64)[np.arange(len(y_true)), y_true], eps, 1.0)
    return float(-np.mean(np.log(p)))


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def lift_at(y_true: np.ndarray, scores: np.ndarray, fraction: float = 0.1) -> float:
    """Response rate among the top `fraction` by score, over the overall response rate."""
    y = np.asarray(y_true, dtype=np.float64)
    base = y.mean()
    if base == 0:
        return float("nan")
    k = max(1, int(round(len(y) * fraction)))
    top = np.argsort(-np.asarray(scores), kind="mergesort")[:k]
    return float(y[top].mean() / base)


def gains_table(y_true: np.ndarray, scores: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Deciles by score: size, responders, response rate, lift and cumulative gain."""
    y = np.asarray(y_true, dtype=np.float64)
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    parts = np.array_split(order, bins)
    total = y.sum()
    base = y.mean() if len(y) else float("nan")
    rows, cumulative = [], 0.0
    for i, idx in enumerate(parts, start=1):
        hits = float(y[idx].sum())
        cumulative += hits
        rate = hits / len(idx) if len(idx) else 0.0
        rows.append(
            {
                "decile": i,
                "rows": len(idx),
                "responders": hits,
                "response_rate": rate,
                "lift": rate / base if base else float("nan"),
                "cumulative_gain": cumulative / total if total else float("nan"),
            }
        )
    return rows


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    d = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.sqrt(np.mean(d * d)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64))))


def hit_rate_and_ndcg(ranks: np.ndarray, k: int = 10) -> tuple[float, float]:
    """HR@k and NDCG@k from the 0-based rank of each held-out item among its candidates."""
    ranks = np.asarray(ranks)
    hits = ranks < k
    ndcg = np.where(hits, 1.0 / np.log2(ranks + 2.0), 0.0)
    return float(hits.mean()), float(ndcg.mean())


def silhouette(x: np.ndarray, labels: np.ndarray, sample_size: int = 4000, seed: int = 0) -> float:
    """Mean silhouette on a fixed random sample (exact silhouette is quadratic in rows)."""
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2:
        return float("nan")
    size = min(sample_size, len(labels))
    return float(silhouette_score(x, labels, sample_size=size, random_state=seed))


def segment_shares(labels: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(labels, minlength=k) / max(len(labels), 1)


def explained_variance(values: np.ndarray, labels: np.ndarray) -> float:
    """Share of the variance of `values` explained by the means of their segments (R², η²)."""
    v = np.asarray(values, dtype=np.float64)
    total = ((v - v.mean()) ** 2).sum()
    if total == 0:
        return float("nan")
    within = 0.0
    for label in np.unique(labels):
        part = v[labels == label]
        within += ((part - part.mean()) ** 2).sum()
    return float(1.0 - within / total)
