"""Scoring a checkpoint without torch: load it, then score frames or JSON rows like worker/predict.py.

The HTTP service scores a few rows synchronously and must stay torch-free, so this module
reads the checkpoint's safetensors with numpy and runs adamant.scoring.runtime's forward
passes. Inputs, outputs and errors are those of worker.predict.predict_frame, column for
column (tests/adamant/scoring compares the two on real checkpoints of every task):

- binary: `score` (probability of the positive class) and `label`
- multiclass: `label` and `prob_<class>` per class
- regression: `prediction` in the target's own units
- recommendation: `prediction` (the rating, clipped to the training range; implicit feedback:
  `score`, the ranking score) for rows with a user and an item; with only a user column, the
  top-k items per user (`rank`, `item`, `score`, and for implicit feedback `source`)
- segmentation: `segment`
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError
from safetensors.numpy import load_file

from adamant.checkpoint_files import MODEL_FILE, verify_checkpoint
from adamant.exceptions import CheckpointError, DatasetError
from adamant.preparation.preprocessing import PreparedRows, Preprocessing
from adamant.ranking.top_k import Remembered, top_k_rows
from adamant.scoring.runtime import MatrixFactorization, Model, SegmentAutoencoder, build_model
from adamant.spec import JobSpec


@dataclass
class Scorer:
    """A checkpoint ready to score: its job spec, preprocessing, manifest (step, metrics, ...) and weights."""

    spec: JobSpec
    preprocessing: Preprocessing
    manifest: dict[str, Any]
    model: Model

    @property
    def task(self) -> str:
        return self.spec.task


def load_scorer(checkpoint_dir: Path) -> Scorer:
    """Read and verify a checkpoint directory (manifest.json + model.safetensors); never unpickles."""
    directory = Path(checkpoint_dir)
    manifest = verify_checkpoint(directory)
    try:
        tensors = load_file(str(directory / MODEL_FILE))
    except Exception as exc:  # safetensors raises its own types for torn or foreign files
        raise CheckpointError(f"checkpoint {directory} cannot be read: {exc}") from exc
    try:
        spec = JobSpec.model_validate(manifest["spec"])
        preprocessing = Preprocessing.from_dict(manifest["preprocessing"])
        shape = manifest["model_shape"]
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise CheckpointError(f"checkpoint {directory}: the manifest does not describe a model: {exc}") from exc
    return Scorer(spec, preprocessing, manifest, build_model(spec.model, shape, tensors))


def score_rows(scorer: Scorer, rows: list[dict[str, Any]], *, top_k: int = 10) -> pd.DataFrame:
    """Score JSON rows (the body of POST /v1/jobs/{id}/predict); a key absent from a row is a missing cell."""
    return score_frame(scorer, pd.DataFrame.from_records(rows), top_k=top_k)


def score_frame(scorer: Scorer, frame: pd.DataFrame, *, top_k: int = 10) -> pd.DataFrame:
    """Score every row of `frame`, in order; ids come from the id column or the row number."""
    items = scorer.preprocessing.items
    if scorer.task == "recommendation" and items is not None and items.column not in frame.columns:
        return recommend_top_k(scorer, frame, top_k)
    return output_frame(scorer, scorer.preprocessing.transform(frame))


def model_outputs(scorer: Scorer, rows: PreparedRows) -> np.ndarray:
    """Raw model outputs (logits, standardized values, ratings or segments) for prepared rows."""
    model = scorer.model
    if isinstance(model, MatrixFactorization):
        return model(rows.user_idx, rows.item_idx).astype(np.float64)
    if isinstance(model, SegmentAutoencoder):
        return model.assign(rows.x).astype(np.int64)
    return model(rows.x, rows.embedded).astype(np.float64)


def output_frame(scorer: Scorer, rows: PreparedRows) -> pd.DataFrame:
    """One output row per prepared row, id first: the columns of the task (score/label, prob_*, prediction, segment)."""
    id_name = scorer.preprocessing.id_column or "row"
    out = pd.DataFrame({id_name: rows.ids})
    raw = model_outputs(scorer, rows)
    target = scorer.preprocessing.target
    if scorer.task == "binary_classification":
        score = 1.0 / (1.0 + np.exp(-raw))
        out["score"] = score
        out["label"] = target.decode((score >= 0.5).astype(np.int64))
    elif scorer.task == "multiclass_classification":
        prob = _softmax(raw)
        out["label"] = target.decode(prob.argmax(-1))
        for i, label in enumerate(target.labels):
            out[f"prob_{label}"] = prob[:, i]
    elif scorer.task == "regression":
        out["prediction"] = target.decode(raw)
    elif scorer.task == "recommendation" and target is None:  # implicit feedback: the ranking score
        out["score"] = raw
    elif scorer.task == "recommendation":
        out["prediction"] = np.clip(raw, target.minimum, target.maximum)
    else:
        out["segment"] = raw
    return out


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def recommend_top_k(scorer: Scorer, frame: pd.DataFrame, top_k: int) -> pd.DataFrame:
    """Top-k items per user, best first (adamant/ranking/top_k.py: an implicit model leaves out
    each user's training items and gives cold-start users the popular ones)."""
    users_index, items_index = scorer.preprocessing.users, scorer.preprocessing.items
    if users_index.column not in frame.columns:
        raise DatasetError(
            f"Recommendation rows need the user column {users_index.column!r} (and {items_index.column!r} to "
            "score given items)",
            column=users_index.column,
        )
    if top_k < 0:
        raise ValueError(f"top_k must be 0 or more, not {top_k}")
    model = scorer.model
    assert isinstance(model, MatrixFactorization)
    n_items = len(items_index)
    all_items = np.arange(1, n_items + 1)

    def score_users(users: np.ndarray) -> np.ndarray:
        return model(np.repeat(users, n_items), np.tile(all_items, len(users))).reshape(len(users), n_items)

    remembered = Remembered(model.seen_indptr, model.seen_items, model.item_popularity) if model.implicit else None
    user_ids = frame[users_index.column]
    return top_k_rows(user_ids, users_index.lookup(user_ids), score_users, items_index.ids, top_k,
                      user_column=users_index.column, remembered=remembered)
