"""Implicit feedback: ranking losses with sampled negatives, and full-catalogue evaluation on the device.

Training (ImplicitObjective.batch_loss) scores each positive (user, item) interaction against
negatives drawn from items 1..n_items (index 0 is the unknown item), uniformly or by training
popularity^0.75 (word2vec's smoothing), from torch's global generator, which checkpoints save
and restore, so a resumed run draws what an uninterrupted one would have:

- softmax: `negatives` items shared by the batch; cross-entropy of the positive among itself
  and them, every logit minus log q(item) (the logQ correction of Yi et al. 2019, a no-op for
  uniform draws), a negative equal to the row's positive masked out;
- bpr: `negatives` items per positive; -log sigmoid(positive - negative), averaged;
- bce: `negatives` items per positive; binary cross-entropy, 1 for the positive, 0 for each.

Each interaction's loss is scaled by its weight (dataset.weight_column, mean 1) and the model's
penalty (MatrixFactorization.regularization over the rows gathered) is added.

Evaluation (evaluate) is adamant/ranking/evaluation.py's full-catalogue protocol computed in
chunks of users on the device: every item scored, the user's training items excluded except the
held-out ones, ties by the lower item index. A held-out item training never saw (index 0) can
never be recommended and counts as a miss. val_loss is the cross-entropy of the held-out items
over the same unexcluded catalogue. The sampled protocol (100 unseen items, seeded) is reported
beside it as val_sampled_*, over the users with 100 items they never met (none in a catalogue of
100 items or fewer: the metrics are then left out); tests/worker/engine/test_ranking.py checks
both against the numpy reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from adamant.ranking.evaluation import seen_matrix
from worker.engine.objectives import ranking_candidates

K_HIT, K_RECALL = 10, 20
SAMPLED_NEGATIVES = 100
SCORES_PER_CHUNK = 2**24  # users x items scored at once in evaluation (64 MiB of float32)


@dataclass
class _UserChunk:
    """One evaluation chunk: its users, the (row, item) cells to exclude and the held-out cells."""

    users: torch.Tensor  # (C,)
    excluded_rows: torch.Tensor
    excluded_items: torch.Tensor
    held_rows: torch.Tensor  # held-out items with an index (> 0)
    held_items: torch.Tensor
    relevant: torch.Tensor  # (C,) held-out items per user, cold ones included


@dataclass
class ImplicitObjective:
    users_train: torch.Tensor  # long (n,)
    items_train: torch.Tensor
    weights_train: torch.Tensor | None  # float (n,), mean 1; None = every interaction counts 1
    users_val: torch.Tensor  # the held-out interactions
    items_val: torch.Tensor
    n_users: int
    n_items: int
    loss: str = "softmax"
    negatives: int = 256
    sampling: str = "uniform"
    seed: int = 0
    _chunks: list[_UserChunk] | None = field(default=None, repr=False)
    _sampled: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        device = self.users_train.device
        counts = torch.bincount(self.items_train, minlength=self.n_items + 1).double()
        counts[0] = 0.0
        if self.sampling == "popularity":
            proposal = counts.pow(0.75)
        else:
            proposal = torch.ones(self.n_items + 1, dtype=torch.float64, device=device)
            proposal[0] = 0.0
        self._proposal = (proposal / proposal.sum()).float()
        self._log_q = torch.log(self._proposal.clamp_min(1e-30))
        # Distinct training users per item (index 0 first), as the numpy reference counts popularity.
        key = torch.unique(self.users_train * (self.n_items + 1) + self.items_train)
        self._popularity = torch.bincount(key % (self.n_items + 1), minlength=self.n_items + 1).double()

    @property
    def n_train(self) -> int:
        return self.users_train.shape[0]

    def draw(self, count: int) -> torch.Tensor:
        """`count` item indices from the proposal (uniform over 1..n_items, or popularity^0.75)."""
        if self.sampling == "uniform":
            return torch.randint(1, self.n_items + 1, (count,), device=self.users_train.device)
        return torch.multinomial(self._proposal, count, replacement=True)

    def batch_loss(self, model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
        users, items = self.users_train.index_select(0, idx), self.items_train.index_select(0, idx)
        positive = model.score_candidates(users, items.unsqueeze(1))  # (B, 1)
        penalty = model.penalty
        if self.loss == "softmax":
            drawn = self.draw(self.negatives)
            negative = model.score_candidates(users, drawn)  # (B, N), shared negatives
            logits = torch.cat([positive - self._log_q[items].unsqueeze(1), negative - self._log_q[drawn]], dim=1)
            accidental = torch.cat([torch.zeros_like(items, dtype=torch.bool).unsqueeze(1), drawn.unsqueeze(0) == items.unsqueeze(1)], 1)
            per_row = torch.logsumexp(logits.masked_fill(accidental, -math.inf), dim=1) - logits[:, 0]
        else:
            drawn = self.draw(len(idx) * self.negatives).view(len(idx), self.negatives)
            negative = model.score_candidates(users, drawn)  # (B, n), per positive
            if self.loss == "bpr":
                per_row = F.softplus(negative - positive).mean(dim=1)
            else:
                per_row = F.softplus(-positive[:, 0]) + F.softplus(negative).sum(dim=1)
        if model.penalty is not None:
            penalty = model.penalty if penalty is None else penalty + model.penalty
        if self.weights_train is not None:
            per_row = per_row * self.weights_train.index_select(0, idx)
        loss = per_row.mean()
        return loss if penalty is None else loss + penalty

    def chunks(self) -> list[_UserChunk]:
        """The evaluation's users in chunks, with their excluded and held-out cells (built once)."""
        if self._chunks is None:
            self._chunks = list(_user_chunks(
                self.users_train.cpu().numpy(), self.items_train.cpu().numpy(), self.users_val.cpu().numpy(),
                self.items_val.cpu().numpy(), self.n_users, self.n_items, self.users_train.device,
            ))
        return self._chunks

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        popularity = self._popularity
        catalogue_popularity = float(popularity[1:].mean()) or 1.0
        all_items = torch.arange(self.n_items + 1, device=self.users_train.device)
        hr = ndcg = recall = loss = 0.0
        users = loss_rows = 0
        recommended = torch.zeros(self.n_items + 1, dtype=torch.bool, device=all_items.device)
        recommended_popularity = 0.0
        for chunk in self.chunks():
            scores = model.score_candidates(chunk.users, all_items).float()
            scores[:, 0] = -math.inf
            scores[chunk.excluded_rows, chunk.excluded_items] = -math.inf
            ahead = _items_ahead(scores, chunk.held_rows, chunk.held_items)
            gains = torch.zeros(len(chunk.users), K_RECALL, dtype=torch.float64, device=scores.device)
            near = ahead < K_RECALL
            gains.index_put_((chunk.held_rows[near], ahead[near]), torch.ones(int(near.sum()), dtype=torch.float64, device=scores.device), accumulate=True)
            discounts = 1.0 / torch.log2(torch.arange(2, K_HIT + 2, device=scores.device, dtype=torch.float64))
            ideal = torch.cumsum(discounts, 0)[chunk.relevant.clamp(1, K_HIT).long() - 1]
            hr += float((gains[:, :K_HIT].sum(1) > 0).sum())
            ndcg += float(((gains[:, :K_HIT] * discounts).sum(1) / ideal).sum())
            recall += float((gains.sum(1) / chunk.relevant).sum())
            users += len(chunk.users)
            held_scores = scores[chunk.held_rows, chunk.held_items]
            loss += float((torch.logsumexp(scores[chunk.held_rows], dim=1) - held_scores).sum())
            loss_rows += len(chunk.held_rows)
            top = scores.topk(min(K_HIT, self.n_items), dim=1).indices
            recommended[top.reshape(-1)] = True
            recommended_popularity += float(popularity[top].mean(dim=1).sum())
        count = max(users, 1)
        result = {
            "val_loss": loss / max(loss_rows, 1),
            f"val_hr_{K_HIT}": hr / count,
            f"val_ndcg_{K_HIT}": ndcg / count,
            f"val_recall_{K_RECALL}": recall / count,
            f"val_coverage_{K_HIT}": float(recommended[1:].sum()) / max(self.n_items, 1),
            f"val_popularity_bias_{K_HIT}": recommended_popularity / count / catalogue_popularity,
        }
        return result | self._evaluate_sampled(model)

    def _evaluate_sampled(self, model: nn.Module) -> dict[str, float]:
        if self._sampled is None:
            users_val = self.users_val.cpu().numpy()
            self._sampled = ranking_candidates(
                self.users_train.cpu().numpy(), self.items_train.cpu().numpy(), users_val, self.items_val.cpu().numpy(),
                np.ones(len(users_val)), self.n_items, SAMPLED_NEGATIVES, self.seed, self.users_train.device,
            )
        users, candidates = self._sampled
        if not users.numel():  # a catalogue too small to leave 100 unseen items: the protocol does not apply
            return {}
        scores = model.score_candidates(users, candidates)
        ranks = (scores[:, 1:] >= scores[:, :1]).sum(dim=1).double()  # ties count against the held-out item
        hits = ranks < K_HIT
        return {
            f"val_sampled_hr_{K_HIT}": float(hits.double().mean()),
            f"val_sampled_ndcg_{K_HIT}": float(torch.where(hits, 1.0 / torch.log2(ranks + 2.0), 0.0).mean()),
        }


def _items_ahead(scores: torch.Tensor, rows: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Each held-out (row, item)'s 0-based position in its row's ranking: items with a higher
    score, plus items with an equal score and a lower index (the reference's tie rule)."""
    if not len(rows):
        return torch.zeros(0, dtype=torch.long, device=scores.device)
    row_scores = scores[rows]  # (H, n + 1)
    own = row_scores.gather(1, items.unsqueeze(1))
    lower = torch.arange(scores.shape[1], device=scores.device).unsqueeze(0) < items.unsqueeze(1)
    return ((row_scores > own) | ((row_scores == own) & lower)).sum(dim=1)


def _user_chunks(
    users_train: np.ndarray, items_train: np.ndarray, users_val: np.ndarray, items_val: np.ndarray,
    n_users: int, n_items: int, device: torch.device,
):  # type: ignore[no-untyped-def]
    """_UserChunks over the users with held-out interactions, sized to SCORES_PER_CHUNK scores."""
    shape = (n_users + 1, n_items + 1)
    train = seen_matrix(users_train, items_train, *shape)
    held = seen_matrix(users_val, items_val, *shape)
    excluded = (train - train.multiply(held)).tocsr()
    excluded.eliminate_zeros()
    relevant = np.bincount(np.unique(users_val.astype(np.int64) * shape[1] + items_val) // shape[1], minlength=shape[0])
    test_users = np.flatnonzero(relevant)
    step = max(1, SCORES_PER_CHUNK // shape[1])
    for start in range(0, len(test_users), step):
        users = test_users[start:start + step]
        ex = sp.coo_matrix(excluded[users])
        hd = sp.coo_matrix(held[users])
        hd_items, hd_rows = hd.col, hd.row
        known = hd_items > 0
        yield _UserChunk(
            users=torch.as_tensor(users, dtype=torch.long, device=device),
            excluded_rows=torch.as_tensor(ex.row, dtype=torch.long, device=device),
            excluded_items=torch.as_tensor(ex.col, dtype=torch.long, device=device),
            held_rows=torch.as_tensor(hd_rows[known], dtype=torch.long, device=device),
            held_items=torch.as_tensor(hd_items[known], dtype=torch.long, device=device),
            relevant=torch.as_tensor(relevant[users], dtype=torch.float64, device=device),
        )
