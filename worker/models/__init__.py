"""The model zoo: build a torch module from a declarative model spec and the data's shape."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from adamant.spec import (
    AutoencoderModel,
    LogisticModel,
    MatrixFactorizationModel,
    MLPModel,
    ModelSpec,
)
from worker.models.recommendation import MatrixFactorization, build_matrix_factorization
from worker.models.segmentation import SegmentAutoencoder, build_autoencoder
from worker.models.tabular import build_logistic, build_mlp


@dataclass(frozen=True)
class ModelShape:
    """What the data says about a model's inputs and outputs."""

    n_features: int = 0
    n_outputs: int = 1
    n_users: int = 0
    n_items: int = 0
    mean_rating: float = 0.0
    embeddings: tuple[tuple[int, int], ...] = ()  # (rows, dim) of each embedded column's table
    seen: int = 0  # implicit feedback: distinct (user, item) training pairs the model remembers


def build_model(spec: ModelSpec, shape: ModelShape, *, sparse_embeddings: bool = True) -> nn.Module:
    embeddings = tuple((int(rows), int(dim)) for rows, dim in shape.embeddings)
    if isinstance(spec, LogisticModel):
        return build_logistic(spec, shape.n_features, shape.n_outputs, embeddings, sparse_embeddings)
    if isinstance(spec, MLPModel):
        return build_mlp(spec, shape.n_features, shape.n_outputs, embeddings, sparse_embeddings)
    if isinstance(spec, MatrixFactorizationModel):
        sparse = spec.sparse and sparse_embeddings
        return build_matrix_factorization(spec, shape.n_users, shape.n_items, shape.mean_rating, sparse, shape.seen)
    if isinstance(spec, AutoencoderModel):
        return build_autoencoder(spec, shape.n_features)
    raise TypeError(f"unknown model spec {type(spec).__name__}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["MatrixFactorization", "ModelShape", "SegmentAutoencoder", "build_model", "count_parameters"]
