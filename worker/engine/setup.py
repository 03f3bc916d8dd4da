"""Everything a training run needs before its first step, built from a spec and prepared data.

`build_setup` picks the device, seeds torch, moves the data to the device once, builds the
model and the optimizer, and optionally warm-starts from another checkpoint. `finish` runs
what a task needs after the loop (segments for segmentation). `describe` is what a checkpoint
manifest records so that prediction can rebuild the model with no other input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from adamant.exceptions import CheckpointError, TrainingError
from adamant.preparation import PreparedData
from adamant.spec import JobSpec, MatrixFactorizationModel
from worker.adam import build_optimizer, supports_sparse_grads
from worker.engine import checkpoints as ckpt
from worker.engine import metrics
from worker.engine.blocks import StreamedSplit
from worker.engine.features import DeviceFeatures, DeviceLayout
from worker.engine.objectives import (
    RecommendationObjective,
    SegmentationObjective,
    StreamedTabularObjective,
    TabularObjective,
)
from worker.engine.ranking import ImplicitObjective
from worker.engine.reporting import CheckpointInfo
from worker.models import ModelShape, SegmentAutoencoder, build_model

Objective = TabularObjective | StreamedTabularObjective | RecommendationObjective | ImplicitObjective | SegmentationObjective


def resolve_device(requested: str) -> torch.device:
    if requested == "cpu":
        return torch.device("cpu")
    if requested == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError("resources.device is 'cuda' but this worker has no GPU; use 'auto' or 'cpu'")
        return torch.device("cuda")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def model_shape(spec: JobSpec, data: PreparedData) -> ModelShape:
    if spec.implicit:
        pairs = np.unique(data.user_idx_train.astype(np.int64) * (data.n_items + 1) + data.item_idx_train)
        return ModelShape(n_users=data.n_users, n_items=data.n_items, seen=int(pairs.size))
    if spec.task == "recommendation":
        return ModelShape(n_users=data.n_users, n_items=data.n_items, mean_rating=float(data.rating_mean))
    outputs = data.n_classes if spec.task == "multiclass_classification" else 1
    return ModelShape(n_features=len(data.feature_names), n_outputs=outputs, embeddings=data.preprocessing.embeddings)


def build_objective(spec: JobSpec, data: PreparedData, device: torch.device) -> Objective:
    def t(array: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=device)

    if spec.implicit:
        model = spec.model
        assert isinstance(model, MatrixFactorizationModel)
        return ImplicitObjective(
            users_train=t(data.user_idx_train, torch.long),
            items_train=t(data.item_idx_train, torch.long),
            weights_train=None if data.weights_train is None else t(data.weights_train),
            users_val=t(data.user_idx_val, torch.long),
            items_val=t(data.item_idx_val, torch.long),
            n_users=data.n_users,
            n_items=data.n_items,
            loss=model.ranking_loss(),
            negatives=model.negatives_per_draw(),
            sampling=model.negative_sampling,
            seed=spec.dataset.validation.seed,
        )
    if spec.task == "recommendation":
        return RecommendationObjective(
            users_train=t(data.user_idx_train, torch.long),
            items_train=t(data.item_idx_train, torch.long),
            ratings_train=t(data.y_train),
            users_val=t(data.user_idx_val, torch.long),
            items_val=t(data.item_idx_val, torch.long),
            ratings_val=t(data.y_val),
            n_items=data.n_items,
            rating_min=float(data.rating_min),
            rating_max=float(data.rating_max),
            seed=spec.dataset.validation.seed,
        )
    layout = DeviceLayout(data.preprocessing.layout(), device)
    y_dtype = torch.long if spec.task == "multiclass_classification" else torch.float32
    target = data.preprocessing.target
    scaled = target is not None and target.kind == "regression"
    if data.streamed:  # the rows stay in their mapped files: see worker/engine/blocks.py
        x_val = StreamedSplit(data.val, data.y_val, layout, device, y_dtype)
        return StreamedTabularObjective(
            task=spec.task,
            x_train=StreamedSplit(data.train, data.y_train, layout, device, y_dtype),
            y_train=None,
            x_val=x_val,
            y_val=x_val.targets(),
            target_mean=float(target.mean) if scaled else 0.0,
            target_std=float(target.std) if scaled else 1.0,
        )
    x_train = DeviceFeatures.of(data.train, layout, device)
    x_val = DeviceFeatures.of(data.val, layout, device)
    if spec.task == "segmentation":
        return SegmentationObjective(x_train=x_train, x_val=x_val)
    return TabularObjective(
        task=spec.task,
        x_train=x_train,
        y_train=t(data.y_train, y_dtype),
        x_val=x_val,
        y_val=t(data.y_val, y_dtype),
        target_mean=float(target.mean) if scaled else 0.0,
        target_std=float(target.std) if scaled else 1.0,
    )


@dataclass
class TrainingSetup:
    spec: JobSpec
    data: PreparedData
    device: torch.device
    shape: ModelShape
    model: nn.Module
    optimizer: torch.optim.Optimizer
    objective: Objective
    frame: pd.DataFrame | None = None  # the raw table, for reports in the user's units

    def describe(self) -> dict[str, Any]:
        return {
            "task": self.spec.task,
            "spec": self.spec.model_dump(mode="json"),
            "model_shape": asdict(self.shape),
            "preprocessing": self.data.preprocessing.to_dict(),
            "sparse_embeddings": any(
                getattr(m, "sparse", False) for m in self.model.modules() if isinstance(m, nn.Embedding)
            ),
        }

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        try:
            self.model.load_state_dict({k: v.to(self.device) for k, v in state.items()})
        except RuntimeError as exc:
            raise CheckpointError(f"checkpoint weights do not fit this model: {exc}") from exc

    def finish(self, run_dir: Path) -> tuple[dict[str, Any], CheckpointInfo | None]:
        """After the loop. Segmentation fits its segments on the best weights and rewrites the
        best checkpoint (its step directory and best/) with the centroids in it; returns the
        task's summary and the rewritten checkpoint, if any."""
        if not isinstance(self.model, SegmentAutoencoder):
            return {}, None
        best = run_dir / "best"
        payload = ckpt.load_checkpoint(best) if best.exists() else None
        if payload is not None:
            self.load_weights(payload.model_state)
        objective = self.objective
        assert isinstance(objective, SegmentationObjective)
        self.model.eval()
        labels = self.model.fit_segments(objective.x_train.whole(), seed=self.spec.training.seed)
        with torch.no_grad():
            val_labels = objective.x_val.map_batches(self.model.assign).cpu().numpy()
        k = self.model.centroids.shape[0]
        summary = segment_summary(self.data, self.frame, labels, val_labels, k, self.spec.training.seed)
        if payload is None:
            return summary, None
        payload.model_state = self.model.state_dict()
        metrics = {**payload.manifest.get("metrics", {}), **summary["metrics"]}
        payload.manifest["metrics"] = metrics
        payload.manifest["segments"] = summary["segments"]
        for key in ("format", "created_at", "optimizer", "files"):
            payload.manifest.pop(key, None)
        step = int(payload.manifest["step"])
        directory = ckpt.step_directory(run_dir, step)
        sha, size = ckpt.write_checkpoint(directory, payload)
        ckpt.publish_best(run_dir, directory)
        return summary, CheckpointInfo(step, float(payload.manifest["epoch"]), directory, metrics, sha, size, True)


def segment_summary(
    data: PreparedData,
    frame: pd.DataFrame | None,
    train_labels: np.ndarray,
    val_labels: np.ndarray,
    k: int,
    seed: int,
) -> dict[str, Any]:
    """Silhouette on the validation rows, each segment's size and its profile in original units."""
    shares = metrics.segment_shares(train_labels, k)
    profiles = segment_profiles(frame.iloc[data.train_rows], data.preprocessing.input_columns, train_labels, k) if frame is not None else [{}] * k
    segments = [
        {"segment": s, "size": int((train_labels == s).sum()), "share": float(shares[s]), "profile": profiles[s]}
        for s in range(k)
    ]
    result = {"val_silhouette": metrics.silhouette(data.x_val, val_labels, seed=seed)}
    result |= {f"segment_share_{s}": float(shares[s]) for s in range(k)}
    return {"metrics": result, "segments": segments}


def segment_profiles(rows: pd.DataFrame, columns: list[str], labels: np.ndarray, k: int) -> list[dict[str, Any]]:
    """Per segment: mean and median of each numeric input, the most common value of the others."""
    profiles: list[dict[str, Any]] = []
    for s in range(k):
        part = rows[labels == s]
        profile: dict[str, Any] = {}
        for column in columns:
            values = part[column]
            if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                profile[column] = {"mean": _finite(values.mean()), "median": _finite(values.median())}
            elif len(values.dropna()):
                counts = values.astype(str).value_counts()
                profile[column] = {"top": counts.index[0], "share": float(counts.iloc[0] / len(values))}
        profiles.append(profile)
    return profiles


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def build_setup(
    spec: JobSpec,
    data: PreparedData,
    *,
    device: torch.device | None = None,
    init_from: Path | None = None,
    frame: pd.DataFrame | None = None,
) -> TrainingSetup:
    device = device or resolve_device(spec.resources.device)
    torch.manual_seed(spec.training.seed)
    shape = model_shape(spec, data)
    model = build_model(spec.model, shape, sparse_embeddings=supports_sparse_grads(spec.optimizer)).to(device)
    if init_from is not None:
        payload = ckpt.load_checkpoint(init_from)
        try:
            model.load_state_dict({k: v.to(device) for k, v in payload.model_state.items()})
        except RuntimeError as exc:
            raise CheckpointError(f"init_from checkpoint does not fit this model: {exc}") from exc
    optimizer = build_optimizer(spec.optimizer, model)
    objective = build_objective(spec, data, device)
    if isinstance(objective, ImplicitObjective):  # what top-k scoring excludes and recommends to cold users
        model.remember_interactions(objective.users_train, objective.items_train)
    return TrainingSetup(spec, data, device, shape, model, optimizer, objective, frame)
