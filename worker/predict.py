"""Scoring with torch: a checkpoint directory and new rows in, one output per row out.

The service and the CLI score with the torch-free adamant.scoring, which must give the same
answers; this torch path is the reference its tests compare against, and the one a worker can
run on a GPU for large catalogues.

Everything needed comes from the checkpoint itself (spec, preprocessing, model shape, weights),
and rows go through the very `Preprocessing.transform` that training used, so a prediction sees
exactly what training saw. Outputs by task:

- binary: `score` (probability of the positive class) and `label`
- multiclass: `label` and `prob_<class>` per class
- regression: `prediction` in the target's own units
- recommendation: `prediction` (the rating; implicit feedback: `score`) for rows with a user
  and an item; with only a user column, the top-k items per user (`rank`, `item`, `score`, and
  for implicit feedback `source`: adamant/ranking/top_k.py)
- segmentation: `segment`
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from adamant.exceptions import DatasetError
from adamant.preparation.preprocessing import PreparedRows, Preprocessing
from adamant.ranking.top_k import Remembered, top_k_rows
from adamant.spec import JobSpec
from worker.engine import checkpoints as ckpt
from worker.models import ModelShape, SegmentAutoencoder, build_model

PREDICT_BATCH = 65_536


@dataclass
class TrainedModel:
    spec: JobSpec
    model: nn.Module
    preprocessing: Preprocessing
    manifest: dict[str, Any]
    device: torch.device

    @property
    def task(self) -> str:
        return self.spec.task


def load_trained_model(directory: Path, device: str = "cpu") -> TrainedModel:
    payload = ckpt.load_checkpoint(Path(directory))
    manifest = payload.manifest
    spec = JobSpec.model_validate(manifest["spec"])
    shape = ModelShape(**manifest["model_shape"])
    model = build_model(spec.model, shape, sparse_embeddings=False)
    model.load_state_dict(payload.model_state)
    target = torch.device(device)
    model.to(target).eval()
    return TrainedModel(spec, model, Preprocessing.from_dict(manifest["preprocessing"]), manifest, target)


def _in_batches(fn, n: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    with torch.no_grad():
        parts = [fn(slice(i, min(i + PREDICT_BATCH, n))).cpu() for i in range(0, n, PREDICT_BATCH)]
    return torch.cat(parts).double().numpy() if parts else np.zeros(0)


def predict_frame(trained: TrainedModel, frame: pd.DataFrame, *, top_k: int = 10) -> pd.DataFrame:
    """Score every row of `frame`, in order; ids come from the id column or the row number."""
    if trained.task == "recommendation" and trained.preprocessing.items is not None:
        if trained.preprocessing.items.column not in frame.columns:
            return recommend_top_k(trained, frame, top_k)
    rows = trained.preprocessing.transform(frame)
    return _outputs(trained, rows)


def model_outputs(trained: TrainedModel, rows: PreparedRows) -> np.ndarray:
    """Raw model outputs (logits, standardized values, ratings or segments) for prepared rows."""
    device, model = trained.device, trained.model
    if trained.task == "recommendation":
        users = torch.as_tensor(rows.user_idx, device=device)
        items = torch.as_tensor(rows.item_idx, device=device)
        return _in_batches(lambda s: model(users[s], items[s]), len(users))
    x = torch.as_tensor(rows.x, device=device)
    if isinstance(model, SegmentAutoencoder):
        return _in_batches(lambda s: model.assign(x[s]), len(x)).astype(np.int64)
    if rows.embedded is not None and rows.embedded.shape[1]:
        embedded = torch.as_tensor(rows.embedded, dtype=torch.long, device=device)
        return _in_batches(lambda s: model(x[s], embedded[s]), len(x))
    return _in_batches(lambda s: model(x[s]), len(x))


def _outputs(trained: TrainedModel, rows: PreparedRows) -> pd.DataFrame:
    id_name = trained.preprocessing.id_column or "row"
    out = pd.DataFrame({id_name: rows.ids})
    raw = model_outputs(trained, rows)
    target = trained.preprocessing.target
    if trained.task == "binary_classification":
        score = 1.0 / (1.0 + np.exp(-raw))
        out["score"] = score
        out["label"] = target.decode((score >= 0.5).astype(np.int64))
    elif trained.task == "multiclass_classification":
        prob = torch.softmax(torch.as_tensor(raw), dim=-1).numpy()
        out["label"] = target.decode(prob.argmax(-1))
        for i, label in enumerate(target.labels):
            out[f"prob_{label}"] = prob[:, i]
    elif trained.task == "regression":
        out["prediction"] = target.decode(raw)
    elif trained.task == "recommendation" and target is None:  # implicit feedback: the ranking score
        out["score"] = raw
    elif trained.task == "recommendation":
        low, high = target.minimum, target.maximum
        out["prediction"] = np.clip(raw, low, high)
    else:
        out["segment"] = raw
    return out


def recommend_top_k(trained: TrainedModel, frame: pd.DataFrame, top_k: int) -> pd.DataFrame:
    """Top-k items per user, best first: adamant/ranking/top_k.py over this model's scores."""
    users_index, items_index = trained.preprocessing.users, trained.preprocessing.items
    if users_index.column not in frame.columns:
        raise DatasetError(
            f"Recommendation rows need the user column {users_index.column!r} (and {items_index.column!r} to "
            "score given items)",
            column=users_index.column,
        )
    model = trained.model
    all_items = torch.arange(1, len(items_index) + 1, device=trained.device)

    def score_users(users: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            chunk = torch.as_tensor(users, device=trained.device)
            return model.score_candidates(chunk, all_items).double().cpu().numpy()

    remembered = None
    if getattr(model, "implicit", False):
        remembered = Remembered(*(b.cpu().numpy() for b in (model.seen_indptr, model.seen_items, model.item_popularity)))
    user_ids = frame[users_index.column]
    return top_k_rows(user_ids, users_index.lookup(user_ids), score_users, items_index.ids, top_k,
                      user_column=users_index.column, remembered=remembered)
