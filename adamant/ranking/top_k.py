"""Batch top-k for recommenders: the rows a scoring job writes for users given without items.

Shared by the torch-free scorer (adamant/scoring/scorer.py) and the torch one (worker/predict.py),
which differ only in how they score a chunk of users against the catalogue. For an explicit
(rating) model every item is a candidate, as before. For an implicit-feedback model, which
remembers its training interactions (worker/models/recommendation.py):

- a user's training items are never recommended (a user who interacted with nearly the whole
  catalogue gets fewer than k rows);
- a user training never saw (a cold start) gets the k most popular items by training
  interactions, `score` their interaction count, and `source` says "popular" rather than "model".

Best first; equal scores by the lower item index (stable), so both scorers give the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from adamant.exceptions import DatasetError
from adamant.preparation.cells import to_keys

USERS_PER_CHUNK = 256  # bounds the (users x items) score matrix of one chunk


@dataclass(frozen=True)
class Remembered:
    """An implicit model's training interactions: CSR rows per user index (0..n_users) of item indices."""

    indptr: np.ndarray
    items: np.ndarray
    popularity: np.ndarray  # (n_items + 1,): training interactions per item index


def seen_cells(remembered: Remembered, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, item indices) of every training interaction of `users` (row r is users[r])."""
    starts, ends = remembered.indptr[users], remembered.indptr[users + 1]
    lengths = ends - starts
    rows = np.repeat(np.arange(len(users)), lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return rows, remembered.items[np.repeat(starts, lengths) + offsets]


def top_k_rows(
    user_ids: pd.Series,
    users: np.ndarray,
    score_users: Callable[[np.ndarray], np.ndarray],
    item_ids: list[object],
    k: int,
    *,
    user_column: str,
    remembered: Remembered | None = None,
) -> pd.DataFrame:
    """Rows (user, rank, item, score[, source]) of each user's top k. `users` are the ids' indices
    (0 = unknown); `score_users(users)` gives (len(users), n_items) scores of items 1..n_items."""
    n_items = len(item_ids)
    k = min(k, n_items)
    ids = np.asarray(item_ids, dtype=object)
    parts = []
    for start in range(0, len(users), USERS_PER_CHUNK):
        chunk = users[start : start + USERS_PER_CHUNK]
        scores = np.array(score_users(chunk), dtype=np.float64, copy=True)
        cold = np.zeros(len(chunk), dtype=bool)
        if remembered is not None:
            rows, items = seen_cells(remembered, chunk)
            scores[rows, items - 1] = -np.inf
            cold = chunk == 0
            scores[cold] = remembered.popularity[1:]
        best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        values = np.take_along_axis(scores, best, axis=1)
        kept = np.isfinite(values)
        row, rank = np.nonzero(kept)
        part = {
            user_column: user_ids.iloc[start + row].to_numpy(),
            "rank": rank + 1,
            "item": ids[best[row, rank]],
            "score": values[row, rank],
        }
        if remembered is not None:
            part["source"] = np.where(cold[row], "popular", "model")
        parts.append(pd.DataFrame(part))
    columns = [user_column, "rank", "item", "score"] + (["source"] if remembered is not None else [])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def join_item_metadata(rows: pd.DataFrame, metadata: pd.DataFrame, item_column: str) -> pd.DataFrame:
    """`rows` (top-k) with the columns of `metadata` (one row per item, keyed by `item_column`)
    added beside each recommended item; an item the table lacks gets empty cells."""
    if item_column not in metadata.columns:
        raise DatasetError(f"The item table has no column {item_column!r} (the model's item column)", column=item_column)
    keys = pd.Index(to_keys(metadata[item_column]))
    extra = metadata.drop(columns=[item_column]).set_axis(keys)[~keys.duplicated()]  # the first row of each item
    taken = set(rows.columns)
    extra = extra.rename(columns={c: f"item_{c}" if c in taken else c for c in extra.columns})
    joined = extra.reindex(to_keys(rows["item"]))
    return pd.concat([rows.reset_index(drop=True), joined.reset_index(drop=True)], axis=1)
