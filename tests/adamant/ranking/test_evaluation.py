"""Leave-last-out metrics checked against a brute-force reference on a small table: every user's
items sorted one by one, bought items never in a top k, the sampled protocol's ranks by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adamant.ranking.evaluation import (
    evaluate_full,
    evaluate_sampled,
    leave_last_out,
    seen_matrix,
    top_k_unseen,
)

N_USERS, N_ITEMS = 40, 30


@pytest.fixture(scope="module")
def table() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    users = rng.integers(0, N_USERS, 600)
    items = rng.integers(0, N_ITEMS, 600)
    return {"users": users, "items": items, "time": rng.integers(0, 1000, 600), "scores": rng.normal(size=(N_USERS, N_ITEMS))}


def test_each_user_with_two_or_more_interactions_holds_out_its_last(table: dict[str, np.ndarray]) -> None:
    split = leave_last_out(table["users"], table["time"])
    assert len(np.intersect1d(split.train, split.test)) == 0 and len(split.train) + len(split.test) == 600
    for user in np.unique(table["users"]):
        rows = np.flatnonzero(table["users"] == user)
        held = np.intersect1d(rows, split.test)
        if len(rows) < 2:
            assert len(held) == 0
            continue
        latest = rows[np.lexsort((rows, table["time"][rows]))][-1]  # the last by time, then by row
        assert held.tolist() == [latest]
    single = leave_last_out(np.array([0, 1, 1, 2, 2, 2]))  # no timestamps: a random one of each user's rows
    assert sorted(np.array([0, 1, 1, 2, 2, 2])[single.test].tolist()) == [1, 2]


def brute_force(scores: np.ndarray, train_pairs: set[tuple[int, int]], test: dict[int, set[int]], k: int) -> dict[str, float]:
    hr = ndcg = recall = 0.0
    recommended: set[int] = set()
    for user, wanted in test.items():
        allowed = [i for i in range(N_ITEMS) if (user, i) not in train_pairs or i in wanted]
        ranked = sorted(allowed, key=lambda i: (-scores[user, i], i))[:k]
        recommended |= set(ranked)
        hits = [i in wanted for i in ranked]
        hr += any(hits)
        recall += sum(hits) / len(wanted)
        dcg = sum(1 / math.log2(position + 2) for position, hit in enumerate(hits) if hit)
        ndcg += dcg / sum(1 / math.log2(position + 2) for position in range(min(k, len(wanted))))
    n = len(test)
    return {f"hr@{k}": hr / n, f"ndcg@{k}": ndcg / n, f"recall@{k}": recall / n, f"coverage@{k}": len(recommended) / N_ITEMS}


def test_full_catalogue_metrics_equal_a_brute_force_reference(table: dict[str, np.ndarray]) -> None:
    split = leave_last_out(table["users"], table["time"])
    u, i = table["users"], table["items"]
    train = seen_matrix(u[split.train], i[split.train], N_USERS, N_ITEMS)
    test = seen_matrix(u[split.test], i[split.test], N_USERS, N_ITEMS)
    report = evaluate_full(lambda users: table["scores"][users], train, test, ks=(5, 10), batch_users=7)
    train_pairs = set(zip(u[split.train].tolist(), i[split.train].tolist(), strict=True))
    held: dict[int, set[int]] = {}
    for user, item in zip(u[split.test].tolist(), i[split.test].tolist(), strict=True):
        held.setdefault(user, set()).add(item)
    for k in (5, 10):
        for name, value in brute_force(table["scores"], train_pairs, held, k).items():
            assert report[name] == pytest.approx(value), name
    assert report["users"] == len(held) and report["popularity_bias@10"] > 0


def test_bought_items_never_appear_in_a_top_k() -> None:
    rng = np.random.default_rng(1)
    users, items = rng.integers(0, 50, 2000), rng.integers(0, 200, 2000)
    seen = seen_matrix(users, items, 50, 200)
    scores = rng.normal(size=(50, 200))
    scores[seen.nonzero()] += 100.0  # bought items score highest: a model that would recommend them again
    top = top_k_unseen(scores, seen, np.arange(50), 20)
    for user in range(50):
        assert not set(top[user].tolist()) & set(seen[user].indices.tolist())


def test_the_sampled_protocol_ranks_each_held_out_item_against_unseen_negatives(table: dict[str, np.ndarray]) -> None:
    split = leave_last_out(table["users"], table["time"])
    u, i = table["users"], table["items"]
    train = seen_matrix(u[split.train], i[split.train], N_USERS, N_ITEMS)
    drawn: list[tuple[np.ndarray, np.ndarray]] = []

    def score_pairs(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        drawn.append((users, items))
        return table["scores"][users, items]

    negatives = 5
    report = evaluate_sampled(score_pairs, train, u[split.test], i[split.test], negatives=negatives, k=3, seed=0)
    users, items = (part.reshape(-1, negatives + 1) for part in drawn[0])
    hr = ndcg = 0.0
    for row in range(len(users)):
        user, target = users[row, 0], items[row, 0]
        assert target == i[split.test][row] and len(set(items[row].tolist())) == negatives + 1
        assert not set(items[row, 1:].tolist()) & set(train[user].indices.tolist())  # negatives never bought
        rank = sum(table["scores"][user, item] >= table["scores"][user, target] for item in items[row, 1:])
        hr += rank < 3
        ndcg += 1 / math.log2(rank + 2) if rank < 3 else 0.0
    assert report["sampled_hr@3"] == pytest.approx(hr / len(users))
    assert report["sampled_ndcg@3"] == pytest.approx(ndcg / len(users))
