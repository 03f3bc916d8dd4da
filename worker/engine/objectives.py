"""What "loss" and "validation metrics" mean for each task, on tensors already on the device.

An Objective owns a task's tensors (moved to the device once), turns a batch of row indices
into a loss, and evaluates a model on the validation rows. The training loop only ever sees
`n_train`, `batch_loss(model, idx)` and `evaluate(model)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from worker.engine import metrics
from worker.engine.blocks import BlockOrder, StreamedSplit
from worker.engine.features import EVAL_BATCH, DeviceFeatures


def _predict_in_batches(fn, n: int) -> torch.Tensor:  # type: ignore[no-untyped-def]
    return torch.cat([fn(slice(i, min(i + EVAL_BATCH, n))) for i in range(0, n, EVAL_BATCH)])


@dataclass
class TabularObjective:
    """Binary, multiclass and regression on a feature matrix."""

    task: str
    x_train: DeviceFeatures | StreamedSplit
    y_train: torch.Tensor | None  # None for streamed rows (StreamedTabularObjective)
    x_val: DeviceFeatures | StreamedSplit
    y_val: torch.Tensor
    target_mean: float = 0.0
    target_std: float = 1.0

    @property
    def n_train(self) -> int:
        return len(self.x_train)

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.task == "binary_classification":
            return F.binary_cross_entropy_with_logits(out, y)
        if self.task == "multiclass_classification":
            return F.cross_entropy(out, y)
        return F.mse_loss(out, y)

    def batch_loss(self, model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
        return self._loss(model(*self.x_train.inputs(idx)), self.y_train.index_select(0, idx))

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        out = self.x_val.map_batches(model)
        result = {"val_loss": float(self._loss(out, self.y_val))}
        y = self.y_val.cpu().numpy()
        if self.task == "binary_classification":
            prob = torch.sigmoid(out).double().cpu().numpy()
            result |= {
                "val_auc": metrics.auc(y, prob),
                "val_log_loss": metrics.log_loss(y, prob),
                "val_accuracy": metrics.accuracy(y, prob >= 0.5),
                "val_lift_10": metrics.lift_at(y, prob, 0.1),
            }
        elif self.task == "multiclass_classification":
            prob = torch.softmax(out.double(), dim=-1).cpu().numpy()
            result |= {
                "val_accuracy": metrics.accuracy(y, prob.argmax(-1)),
                "val_log_loss": metrics.multiclass_log_loss(y, prob),
            }
        else:
            pred = out.double().cpu().numpy() * self.target_std + self.target_mean
            truth = y * self.target_std + self.target_mean
            result |= {"val_rmse": metrics.rmse(truth, pred), "val_mae": metrics.mae(truth, pred)}
        return result


@dataclass
class StreamedTabularObjective(TabularObjective):
    """A TabularObjective over rows prepared by streaming: x_train and x_val are StreamedSplits,
    y_train is unused (each batch's targets come with its rows), and an epoch visits the rows in
    x_train's BlockOrder (worker/engine/blocks.py) rather than a permutation of every row."""

    def epoch_order(self, seed: int, epoch: int) -> BlockOrder:
        assert isinstance(self.x_train, StreamedSplit)
        return self.x_train.epoch_order(seed, epoch)

    def batch_loss(self, model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
        assert isinstance(self.x_train, StreamedSplit)
        inputs, y = self.x_train.batch(idx)
        return self._loss(model(*inputs), y)


@dataclass
class RecommendationObjective:
    """Explicit ratings: MSE on (user, item) pairs; RMSE/MAE and HR/NDCG@10 on validation."""

    users_train: torch.Tensor
    items_train: torch.Tensor
    ratings_train: torch.Tensor
    users_val: torch.Tensor
    items_val: torch.Tensor
    ratings_val: torch.Tensor
    n_items: int
    rating_min: float
    rating_max: float
    seed: int = 0
    negatives: int = 100
    _ranking: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)

    @property
    def n_train(self) -> int:
        return self.users_train.shape[0]

    def batch_loss(self, model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
        pred = model(self.users_train.index_select(0, idx), self.items_train.index_select(0, idx))
        loss = F.mse_loss(pred, self.ratings_train.index_select(0, idx))
        penalty = getattr(model, "penalty", None)
        return loss if penalty is None else loss + penalty

    def ranking_candidates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per validation user: their best-rated held-out item first, then `negatives` items
        they never rated (fixed by the seed), as (users [U], items [U, 1 + negatives])."""
        if self._ranking is None:
            self._ranking = ranking_candidates(
                self.users_train.cpu().numpy(),
                self.items_train.cpu().numpy(),
                self.users_val.cpu().numpy(),
                self.items_val.cpu().numpy(),
                self.ratings_val.cpu().numpy(),
                self.n_items,
                self.negatives,
                self.seed,
                self.users_train.device,
            )
        return self._ranking

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        n = self.users_val.shape[0]
        raw = _predict_in_batches(lambda s: model(self.users_val[s], self.items_val[s]), n)
        pred = raw.clamp(self.rating_min, self.rating_max).double().cpu().numpy()
        truth = self.ratings_val.double().cpu().numpy()
        result = {
            "val_loss": float(F.mse_loss(raw, self.ratings_val)),
            "val_rmse": metrics.rmse(truth, pred),
            "val_mae": metrics.mae(truth, pred),
        }
        users, items = self.ranking_candidates()
        if users.numel():
            scores = model(users.unsqueeze(1).expand_as(items).reshape(-1), items.reshape(-1)).view(items.shape)
            ranks = (scores[:, 1:] > scores[:, :1]).sum(dim=1).cpu().numpy()
            result["val_hr_10"], result["val_ndcg_10"] = metrics.hit_rate_and_ndcg(ranks, 10)
        return result


def ranking_candidates(
    users_train: np.ndarray,
    items_train: np.ndarray,
    users_val: np.ndarray,
    items_val: np.ndarray,
    ratings_val: np.ndarray,
    n_items: int,
    negatives: int,
    seed: int,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    key = np.int64(n_items + 1)
    rated = np.unique(np.concatenate([users_train * key + items_train, users_val * key + items_val]))
    # Best-rated validation item per user (first one on ties), users with a known id only.
    order = np.lexsort((-ratings_val, users_val))
    first = np.ones(len(order), dtype=bool)
    first[1:] = users_val[order][1:] != users_val[order][:-1]
    chosen = order[first]
    chosen = chosen[(users_val[chosen] > 0) & (items_val[chosen] > 0)]
    users = users_val[chosen]
    rows, kept = [], []
    wanted = min(negatives, n_items - 1)
    for user, positive in zip(users, items_val[chosen]):
        picked = np.empty(0, dtype=np.int64)
        for _ in range(50):  # a user who rated nearly everything may not have `wanted` left
            if picked.size >= wanted:
                break
            draw = rng.integers(1, n_items + 1, size=4 * negatives)
            keys = user * key + draw
            at = np.searchsorted(rated, keys).clip(max=len(rated) - 1)
            fresh = np.concatenate([picked, draw[rated[at] != keys]])
            _, first_seen = np.unique(fresh, return_index=True)
            picked = fresh[np.sort(first_seen)]
        if picked.size >= wanted:
            rows.append([positive, *picked[:wanted]])
            kept.append(user)
    if not rows:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty.view(0, 1 + negatives)
    return (
        torch.as_tensor(np.array(kept), dtype=torch.long, device=device),
        torch.as_tensor(np.array(rows), dtype=torch.long, device=device),
    )


@dataclass
class SegmentationObjective:
    """Autoencoder reconstruction loss; segments come after training (see trainer.finish)."""

    x_train: DeviceFeatures
    x_val: DeviceFeatures

    @property
    def n_train(self) -> int:
        return len(self.x_train)

    def batch_loss(self, model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
        x = self.x_train.batch(idx)
        return F.mse_loss(model(x), x)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        squared = self.x_val.map_batches(lambda x: (model(x) - x).pow(2).sum(dim=1).double())
        return {"val_loss": float(squared.sum() / max(len(self.x_val) * self.x_val.layout.width, 1))}
