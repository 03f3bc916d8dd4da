"""Leave-last-out evaluation of a recommender, the way the field reports it.

Split (leave_last_out): each user's last interaction (by timestamp, ties by row order; a random
one when there is no timestamp) is held out, when the user has at least two; the rest train.

Full-catalogue protocol (evaluate_full): for each test user, every item is scored; the items the
user interacted with in training are excluded (set to -inf) except the held-out ones; the top k
are the k highest scores, ties broken by the lower item index. Reported over test users:
HR@k (a held-out item is in the top k), NDCG@k (binary relevance, DCG over IDCG), recall@k (the
share of the user's held-out items in the top k; equal to HR@k with one held-out item), catalogue
coverage@k (distinct items in anyone's top k, over the catalogue) and popularity bias@k (the mean
training popularity of recommended items over that of the catalogue's items: 1 recommends like
the catalogue, higher favours popular items).

Sampled protocol (evaluate_sampled, He et al. 2017): each held-out item is ranked against
`negatives` items the user never interacted with, drawn uniformly (seeded); HR@k and NDCG@k over
those 1 + `negatives` candidates, labelled as sampled: Krichene and Rendle (2020) show it can
order models differently from the full catalogue, which is why the full protocol comes first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

ScoreUsers = Callable[[np.ndarray], np.ndarray]  # user indices -> (len(users), n_items) scores
ScorePairs = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (users, items) of one shape -> scores


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # row positions of the interactions that train
    test: np.ndarray  # row positions held out: each test user's last interaction


def leave_last_out(users: np.ndarray, timestamps: np.ndarray | None = None, *, seed: int = 0) -> Split:
    """Hold out each user's last interaction (a random one without timestamps) when the user has two or more."""
    users = np.asarray(users)
    n = len(users)
    if timestamps is None:
        tiebreak = np.random.default_rng(seed).permutation(n)  # "last" = a random one of the user's rows
        order = np.lexsort((tiebreak, users))
    else:
        order = np.lexsort((np.arange(n), np.asarray(timestamps), users))  # by user, then time, then row
    sorted_users = users[order]
    last = np.ones(n, dtype=bool)
    last[:-1] = sorted_users[:-1] != sorted_users[1:]
    first = np.ones(n, dtype=bool)
    first[1:] = sorted_users[1:] != sorted_users[:-1]
    held = last & ~first  # the user's last row, when it is not also the first (a single interaction trains)
    return Split(train=np.sort(order[~held]), test=np.sort(order[held]))


def seen_matrix(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """users x items, 1 where the user interacted with the item (counts collapsed)."""
    matrix = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)), shape=(n_users, n_items))
    matrix.data[:] = 1.0
    return matrix


def top_k_unseen(scores: np.ndarray, seen: sp.csr_matrix, users: np.ndarray, k: int,
                 keep: sp.csr_matrix | None = None) -> np.ndarray:
    """(len(users), k) item indices: the highest scores of each user's row, never an item the user
    interacted with (`seen`) unless `keep` has it; ties by the lower item index."""
    masked = np.array(scores, dtype=np.float64, copy=True)
    exclude = seen[users]
    if keep is not None:
        exclude = exclude - exclude.multiply(keep[users])
    rows, cols = exclude.nonzero()
    masked[rows, cols] = -np.inf
    k = min(k, masked.shape[1])
    # stable ordering by (-score, item): argsort of -score with a stable sort keeps lower indices first on ties
    return np.argsort(-masked, axis=1, kind="stable")[:, :k]


def evaluate_full(score_users: ScoreUsers, train: sp.csr_matrix, test: sp.csr_matrix, ks: Sequence[int] = (10,),
                  *, batch_users: int = 1024) -> dict[str, float]:
    """HR, NDCG, recall, coverage and popularity bias at each k over the full catalogue (see the module)."""
    n_users, n_items = train.shape
    test_users = np.flatnonzero(np.diff(test.indptr) > 0)
    k_max = max(ks)
    popularity = np.asarray(train.sum(axis=0)).ravel()
    sums = {f"{name}@{k}": 0.0 for k in ks for name in ("hr", "ndcg", "recall")}
    recommended = {k: np.zeros(n_items, dtype=bool) for k in ks}
    pop_sum = dict.fromkeys(ks, 0.0)
    for start in range(0, len(test_users), batch_users):
        users = test_users[start:start + batch_users]
        top = top_k_unseen(score_users(users), train, users, k_max, keep=test)
        relevant = test[users]
        for row, user in enumerate(users):
            wanted = set(relevant[row].indices.tolist())
            gains = np.array([item in wanted for item in top[row]], dtype=np.float64)
            for k in ks:
                hits = gains[:k]
                sums[f"hr@{k}"] += float(hits.any())
                sums[f"recall@{k}"] += hits.sum() / len(wanted)
                ideal = (1.0 / np.log2(np.arange(2, min(k, len(wanted)) + 2))).sum()
                sums[f"ndcg@{k}"] += float((hits / np.log2(np.arange(2, len(hits) + 2))).sum() / ideal)
                recommended[k][top[row, :k]] = True
                pop_sum[k] += float(popularity[top[row, :k]].mean())
    count = max(len(test_users), 1)
    report = {name: value / count for name, value in sums.items()}
    catalogue_popularity = float(popularity.mean()) or 1.0
    for k in ks:
        report[f"coverage@{k}"] = float(recommended[k].sum() / n_items)
        report[f"popularity_bias@{k}"] = pop_sum[k] / count / catalogue_popularity
    report["users"] = float(len(test_users))
    return report


def evaluate_sampled(score_pairs: ScorePairs, train: sp.csr_matrix, test_users: np.ndarray, test_items: np.ndarray,
                     *, negatives: int = 100, k: int = 10, seed: int = 0) -> dict[str, float]:
    """HR@k and NDCG@k of each held-out item ranked against `negatives` unseen items (see the module)."""
    rng = np.random.default_rng(seed)
    n_items = train.shape[1]
    candidates = np.empty((len(test_users), negatives + 1), dtype=np.int64)
    for row, (user, item) in enumerate(zip(test_users, test_items, strict=True)):
        excluded = set(train[user].indices.tolist()) | {int(item)}
        pool = n_items - len(excluded)
        if pool < negatives:
            raise ValueError(f"user {user} has {pool} items to sample from, fewer than {negatives} negatives")
        drawn: list[int] = []
        while len(drawn) < negatives:
            for candidate in rng.integers(0, n_items, size=2 * negatives):
                if int(candidate) not in excluded:
                    excluded.add(int(candidate))
                    drawn.append(int(candidate))
                    if len(drawn) == negatives:
                        break
        candidates[row] = [int(item), *drawn]
    users = np.repeat(np.asarray(test_users)[:, None], negatives + 1, axis=1)
    scores = np.asarray(score_pairs(users.ravel(), candidates.ravel()), dtype=np.float64).reshape(users.shape)
    ranks = (scores[:, 1:] >= scores[:, :1]).sum(axis=1)  # ties count against the held-out item
    hits = ranks < k
    return {f"sampled_hr@{k}": float(hits.mean()),
            f"sampled_ndcg@{k}": float(np.where(hits, 1.0 / np.log2(ranks + 2.0), 0.0).mean()),
            "sampled_negatives": float(negatives), "users": float(len(test_users))}
