"""Implicit-feedback training and evaluation (worker/engine/ranking.py).

The device evaluation is held to adamant/ranking/evaluation.py's brute-force-tested reference
on the very scores of a model; each loss learns a table whose structure a popularity ranking
cannot see; an interaction of weight 0 teaches nothing; popularity sampling follows count^0.75.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from adamant.preparation import prepare_training_data
from adamant.ranking.evaluation import evaluate_full, seen_matrix
from adamant.spec import JobSpec
from worker.engine.ranking import ImplicitObjective
from worker.engine.reporting import RecordingReporter
from worker.engine.setup import build_setup
from worker.engine.trainer import train

GROUPS, USERS_PER_GROUP, ITEMS_PER_GROUP, PER_USER = 3, 30, 20, 12


def grouped_interactions(seed: int = 0, items_per_group: int = ITEMS_PER_GROUP) -> pd.DataFrame:
    """Users of group g interact only with items of group g (a random 12 of its 20), at random times;
    every item is equally popular overall, so only the groups tell the held-out item."""
    rng = np.random.default_rng(seed)
    rows = []
    for group in range(GROUPS):
        for u in range(USERS_PER_GROUP):
            items = rng.choice(items_per_group, PER_USER, replace=False) + group * items_per_group
            for item, at in zip(items, rng.permutation(PER_USER), strict=True):
                rows.append({"customer": f"c{group}-{u}", "sku": f"p{item}", "when": int(at), "qty": 1.0})
    return pd.DataFrame(rows)


def implicit_spec(**model: Any) -> JobSpec:
    return JobSpec.model_validate({
        "task": "recommendation",
        "dataset": {"ref": "file:t.csv", "user_column": "customer", "item_column": "sku", "feedback": "implicit",
                    "timestamp_column": "when", "weight_column": "qty"},
        "model": {"type": "matrix_factorization", "embedding_dim": 16, **model},
        "optimizer": {"lr": 0.04},
        "training": {"epochs": 6, "batch_size": 128, "seed": 0},
    })


def test_the_device_evaluation_equals_the_numpy_reference_on_the_same_scores() -> None:
    frame = grouped_interactions(items_per_group=50)  # 150 items: room for the sampled protocol's 100
    spec = implicit_spec()
    data = prepare_training_data(spec, frame)
    assert data.cold_val_rows == 0
    setup = build_setup(spec, data, device=torch.device("cpu"))
    model, objective = setup.model.eval(), setup.objective
    assert isinstance(objective, ImplicitObjective)
    reported = objective.evaluate(model)

    with torch.no_grad():
        users = torch.arange(data.n_users + 1)
        scores = model.score_candidates(users, torch.arange(1, data.n_items + 1)).double().numpy()
    shape = (data.n_users + 1, data.n_items)
    train = seen_matrix(data.user_idx_train, data.item_idx_train - 1, *shape)
    test = seen_matrix(data.user_idx_val, data.item_idx_val - 1, *shape)
    reference = evaluate_full(lambda u: scores[u], train, test, ks=(10, 20))
    assert reference["users"] == GROUPS * USERS_PER_GROUP
    for ours, theirs in (("val_hr_10", "hr@10"), ("val_ndcg_10", "ndcg@10"), ("val_recall_20", "recall@20"),
                         ("val_coverage_10", "coverage@10"), ("val_popularity_bias_10", "popularity_bias@10")):
        assert reported[ours] == pytest.approx(reference[theirs], rel=1e-6), ours  # the reference sums float32

    users_s, candidates = objective._sampled  # the sampled protocol: held-out item first, 100 it never met
    assert len(users_s) == GROUPS * USERS_PER_GROUP
    seen = set(zip(data.user_idx_train.tolist(), data.item_idx_train.tolist(), strict=True))
    held = dict(zip(data.user_idx_val.tolist(), data.item_idx_val.tolist(), strict=True))
    for user, row in zip(users_s.tolist(), candidates.tolist(), strict=True):
        assert len(set(row)) == len(row) == 101 and row[0] == held[user]
        assert not any((user, item) in seen for item in row[1:])
    pair_scores = scores[users_s.numpy()[:, None], candidates.numpy() - 1]
    ranks = (pair_scores[:, 1:] >= pair_scores[:, :1]).sum(1)
    assert reported["val_sampled_hr_10"] == pytest.approx(float((ranks < 10).mean()))
    assert reported["val_sampled_ndcg_10"] == pytest.approx(float(np.where(ranks < 10, 1 / np.log2(ranks + 2.0), 0).mean()))


@pytest.mark.parametrize(("loss", "head"), [("softmax", []), ("bpr", []), ("bce", []), ("softmax", [16])])
def test_each_loss_learns_what_popularity_cannot_see(loss: str, head: list[int], tmp_path: Path) -> None:
    frame = grouped_interactions()
    spec = implicit_spec(loss=loss, negatives=32 if loss == "softmax" else 4, ncf_hidden=head)
    data = prepare_training_data(spec, frame)
    setup = build_setup(spec, data, device=torch.device("cpu"))
    before = setup.objective.evaluate(setup.model.eval())
    result = train(setup, tmp_path, RecordingReporter())
    # Chance: the held-out item among the ~48 items a user has not met; knowing the group: among 8.
    assert before["val_hr_10"] < 0.45
    assert result.best_metrics["val_hr_10"] > 0.8, result.best_metrics
    assert result.best_metrics["val_ndcg_10"] > 0.4


def test_an_interaction_of_weight_zero_teaches_nothing() -> None:
    frame = grouped_interactions()
    frame.loc[frame["customer"] == "c0-0", "qty"] = 0.0
    spec = implicit_spec(loss="softmax", negatives=16)
    data = prepare_training_data(spec, frame)
    assert data.weights_train.mean() == pytest.approx(1.0)
    setup = build_setup(spec, data, device=torch.device("cpu"))
    objective = setup.objective
    user = int(data.preprocessing.users.lookup(pd.Series(["c0-0"]))[0])
    other = int(data.preprocessing.users.lookup(pd.Series(["c0-1"]))[0])
    loss = objective.batch_loss(setup.model.train(), torch.arange(objective.n_train))
    loss.backward()
    grad = setup.model.user_embedding.weight.grad.to_dense()
    assert torch.count_nonzero(grad[user]) == 0
    assert torch.count_nonzero(grad[other]) > 0


def test_popularity_sampling_draws_items_by_count_to_the_three_quarters() -> None:
    items = torch.tensor([1] * 81 + [2] * 16 + [3] * 1)
    objective = ImplicitObjective(
        users_train=torch.ones_like(items), items_train=items, weights_train=None,
        users_val=torch.zeros(0, dtype=torch.long), items_val=torch.zeros(0, dtype=torch.long),
        n_users=1, n_items=4, sampling="popularity",
    )
    torch.manual_seed(0)
    counts = torch.bincount(objective.draw(200_000), minlength=5).double() / 200_000
    expected = torch.tensor([0.0, 27.0, 8.0, 1.0, 0.0]) / 36.0  # 81^.75, 16^.75, 1^.75; item 4 never bought
    assert torch.allclose(counts, expected.double(), atol=0.005)
    uniform = ImplicitObjective(
        users_train=torch.ones_like(items), items_train=items, weights_train=None,
        users_val=torch.zeros(0, dtype=torch.long), items_val=torch.zeros(0, dtype=torch.long), n_users=1, n_items=4,
    )
    assert set(uniform.draw(1000).tolist()) == {1, 2, 3, 4}  # never index 0, the unknown item


@pytest.mark.parametrize("head", [[], [8]])
def test_candidate_scores_are_the_pairwise_scores_in_blocks_or_whole(head: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.models import recommendation

    spec = implicit_spec(ncf_hidden=head)
    data = prepare_training_data(spec, grouped_interactions())
    model = build_setup(spec, data, device=torch.device("cpu")).model.eval()
    users, items = torch.arange(1, 31), torch.arange(0, data.n_items + 1)
    with torch.no_grad():
        whole = model.score_candidates(users, items)
        pairs = model(users.repeat_interleave(len(items)), items.repeat(len(users))).view(len(users), len(items))
        per_row = model.score_candidates(users, items.expand(len(users), -1))
        monkeypatch.setattr(recommendation, "NCF_PAIRS_PER_BLOCK", 100)  # the head then sees 1 user at a time
        blocked = model.score_candidates(users, items)
    assert torch.allclose(whole, pairs, atol=1e-6) and torch.allclose(per_row, pairs, atol=1e-6)
    assert torch.allclose(blocked, whole, atol=1e-6)
