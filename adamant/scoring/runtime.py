"""The model zoo's eval-mode forward passes in numpy, rebuilt from a checkpoint's state dict.

Each builder reads the very keys the torch module of worker/models writes (`body.0.weight`,
`user_embedding.weight`, `encoder.2.bias`, ...), counting Sequential indices the way the torch
builders do, and refuses a state dict with a missing, extra or misshapen entry as
`load_state_dict(strict=True)` would. Eval semantics only: dropout is the identity and batch
norm uses its running statistics.

Arithmetic is float32 like torch on CPU; what differs is only the order in which BLAS sums a
dot product, a few units in the last place (measured against worker/predict.py in
tests/adamant/scoring: at most ~1e-6 on raw outputs, see test_runtime.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import erf, expit

from adamant.exceptions import CheckpointError
from adamant.spec import Activation, AutoencoderModel, LogisticModel, MatrixFactorizationModel, MLPModel, ModelSpec

Layer = Callable[[np.ndarray], np.ndarray]

BATCH_NORM_EPS = 1e-5  # torch.nn.BatchNorm1d's default, which worker/models never changes
LEAKY_RELU_SLOPE = np.float32(0.01)  # torch.nn.LeakyReLU's default
_SQRT_HALF = np.float32(np.sqrt(0.5))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.float32(0.0))


def _gelu(x: np.ndarray) -> np.ndarray:
    # torch.nn.GELU's default approximate="none": the exact erf form.
    return x * np.float32(0.5) * (np.float32(1.0) + erf(x * _SQRT_HALF))


def _silu(x: np.ndarray) -> np.ndarray:
    return x * expit(x)  # expit, unlike 1 / (1 + exp(-x)), cannot overflow


def _leaky_relu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, x * LEAKY_RELU_SLOPE)


ACTIVATIONS: dict[Activation, Layer] = {
    "relu": _relu,
    "gelu": _gelu,
    "tanh": np.tanh,
    "silu": _silu,
    "leaky_relu": _leaky_relu,
}


def linear(weight: np.ndarray, bias: np.ndarray) -> Layer:
    """torch.nn.Linear: weight is (out, in)."""
    transposed = np.ascontiguousarray(weight.T)
    return lambda x: x @ transposed + bias


def batch_norm(weight: np.ndarray, bias: np.ndarray, running_mean: np.ndarray, running_var: np.ndarray) -> Layer:
    """torch.nn.BatchNorm1d in eval mode, folded into one scale and shift as torch's CPU kernel does."""
    scale = (weight / np.sqrt(running_var + np.float32(BATCH_NORM_EPS))).astype(np.float32)
    shift = (bias - running_mean * scale).astype(np.float32)
    return lambda x: x * scale + shift


def sequential(layers: list[Layer]) -> Layer:
    def forward(x: np.ndarray) -> np.ndarray:
        for layer in layers:
            x = layer(x)
        return x

    return forward


class StateDict:
    """A checkpoint's tensors, handed out by name and shape; what no builder asked for is an error."""

    def __init__(self, tensors: Mapping[str, np.ndarray]) -> None:
        self._tensors = dict(tensors)
        self._taken: set[str] = set()

    def take(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in self._tensors:
            raise CheckpointError(f"checkpoint weights do not fit this model: {name!r} is missing")
        value = self._tensors[name]
        if value.shape != shape:
            raise CheckpointError(
                f"checkpoint weights do not fit this model: {name!r} has shape {value.shape}, the model needs {shape}"
            )
        self._taken.add(name)
        return value.astype(np.float32, copy=False)

    def take_indices(self, name: str, length: int) -> np.ndarray:
        """An integer buffer (an implicit recommender's seen items) as int64, of `length` values."""
        value = self._tensors.get(name)
        if value is None or value.shape != (length,) or value.dtype.kind not in "iu":
            found = "missing" if value is None else f"{value.dtype} of shape {value.shape}"
            raise CheckpointError(f"checkpoint weights do not fit this model: {name!r} is {found}, the model needs int ({length},)")
        self._taken.add(name)
        return value.astype(np.int64, copy=False)

    def linear(self, prefix: str, n_in: int, n_out: int) -> Layer:
        return linear(self.take(f"{prefix}.weight", (n_out, n_in)), self.take(f"{prefix}.bias", (n_out,)))

    def batch_norm(self, prefix: str, width: int) -> Layer:
        self.take(f"{prefix}.num_batches_tracked", ())  # only training reads it (momentum=None)
        return batch_norm(*(self.take(f"{prefix}.{name}", (width,)) for name in ("weight", "bias", "running_mean", "running_var")))

    def finish(self) -> None:
        extra = sorted(set(self._tensors) - self._taken)
        if extra:
            raise CheckpointError(f"checkpoint weights do not fit this model: unexpected {', '.join(map(repr, extra))}")


@dataclass
class TabularNet:
    """worker.models.tabular.TabularNet: one logit / value per output; a single output squeezed to
    [rows]. Embedded columns' vectors (tables[i][index]) follow the features."""

    body: Layer
    tables: list[np.ndarray] = field(default_factory=list)

    def __call__(self, x: np.ndarray, embedded: np.ndarray | None = None) -> np.ndarray:
        if self.tables:
            if embedded is None:
                raise CheckpointError("this model takes its embedded columns' indices")
            x = np.concatenate([x, *(table[embedded[:, i]] for i, table in enumerate(self.tables))], axis=1)
        out = self.body(x)
        return out[:, 0] if out.shape[-1] == 1 else out


Embeddings = Sequence[Sequence[int]]  # (rows, dim) of each embedded column's table


def embedding_tables(state: StateDict, embeddings: Embeddings) -> list[np.ndarray]:
    return [state.take(f"embeddings.{i}.weight", (int(rows), int(dim))) for i, (rows, dim) in enumerate(embeddings)]


def build_logistic(state: StateDict, n_features: int, n_outputs: int, embeddings: Embeddings = ()) -> TabularNet:
    width = n_features + sum(int(dim) for _, dim in embeddings)
    return TabularNet(state.linear("body", width, n_outputs), embedding_tables(state, embeddings))


def build_mlp(spec: MLPModel, state: StateDict, n_features: int, n_outputs: int, embeddings: Embeddings = ()) -> TabularNet:
    layers: list[Layer] = []
    index = 0  # the torch Sequential's index, which parameter-free modules advance too

    def add(layer: Layer) -> None:
        nonlocal index
        layers.append(layer)
        index += 1

    width = n_features + sum(int(dim) for _, dim in embeddings)
    for hidden in spec.hidden:
        add(state.linear(f"body.{index}", width, hidden))
        if spec.batch_norm:
            add(state.batch_norm(f"body.{index}", hidden))
        add(ACTIVATIONS[spec.activation])
        if spec.dropout > 0:
            add(lambda x: x)  # dropout is the identity in eval mode
        width = hidden
    add(state.linear(f"body.{index}", width, n_outputs))
    return TabularNet(sequential(layers), embedding_tables(state, embeddings))


@dataclass
class MatrixFactorization:
    """worker.models.recommendation.MatrixFactorization in eval mode (its dropout is the identity)."""

    user_embedding: np.ndarray  # (n_users + 1, dim); row 0 is the unknown user
    item_embedding: np.ndarray
    global_bias: np.ndarray  # shape ()
    user_bias: np.ndarray | None = None  # (n_users + 1,)
    item_bias: np.ndarray | None = None
    head: Layer | None = None
    combine: Layer | None = None
    # implicit feedback: each user's training items (CSR over users 0..n_users) and each item's interactions
    seen_indptr: np.ndarray | None = None
    seen_items: np.ndarray | None = None
    item_popularity: np.ndarray | None = None

    @property
    def implicit(self) -> bool:
        return self.seen_items is not None

    def __call__(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        p = self.user_embedding[users]
        q = self.item_embedding[items]
        interaction = p * q
        if self.head is None:
            score = interaction.sum(-1)
        else:
            assert self.combine is not None
            deep = self.head(np.concatenate([p, q], axis=-1))
            score = self.combine(np.concatenate([interaction, deep], axis=-1))[:, 0]
        score = score + self.global_bias
        if self.user_bias is not None and self.item_bias is not None:
            score = score + self.user_bias[users] + self.item_bias[items]
        return score


def build_matrix_factorization(
    spec: MatrixFactorizationModel, state: StateDict, n_users: int, n_items: int, seen: int = 0
) -> MatrixFactorization:
    dim = spec.embedding_dim
    model = MatrixFactorization(
        user_embedding=state.take("user_embedding.weight", (n_users + 1, dim)),
        item_embedding=state.take("item_embedding.weight", (n_items + 1, dim)),
        global_bias=state.take("global_bias", ()),
    )
    if spec.biases:
        model.user_bias = state.take("user_bias.weight", (n_users + 1, 1))[:, 0]
        model.item_bias = state.take("item_bias.weight", (n_items + 1, 1))[:, 0]
    if spec.ncf_hidden:
        layers: list[Layer] = []
        width = 2 * dim
        for hidden in spec.ncf_hidden:
            layers += [state.linear(f"head.{len(layers)}", width, hidden), _relu]
            width = hidden
        model.head = sequential(layers)
        model.combine = state.linear("combine", dim + width, 1)
    if seen:
        model.seen_indptr = state.take_indices("seen_indptr", n_users + 2)
        model.seen_items = state.take_indices("seen_items", seen)
        model.item_popularity = state.take("item_popularity", (n_items + 1,))
    return model


def _stack(state: StateDict, prefix: str, widths: list[int], activation: Activation) -> Layer:
    """worker.models.segmentation._stack: Linear layers with the activation between them, none after the last."""
    layers: list[Layer] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(state.linear(f"{prefix}.{len(layers)}", a, b))
        if i < len(widths) - 2:
            layers.append(ACTIVATIONS[activation])
    return sequential(layers)


@dataclass
class SegmentAutoencoder:
    """worker.models.segmentation.SegmentAutoencoder: a row's segment is its code's nearest centroid."""

    encoder: Layer
    decoder: Layer
    centroids: np.ndarray  # (segments, latent_dim)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.decoder(self.encoder(x))

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.encoder(x)

    def assign(self, x: np.ndarray) -> np.ndarray:
        # Exact differences in float64; torch.cdist's matrix-product shortcut can only lose digits.
        code = self.encode(x).astype(np.float64)
        distance = ((code[:, None, :] - self.centroids.astype(np.float64)[None, :, :]) ** 2).sum(-1)
        return distance.argmin(axis=1) if len(code) else np.zeros(0, dtype=np.int64)


def build_autoencoder(spec: AutoencoderModel, state: StateDict, n_features: int) -> SegmentAutoencoder:
    widths = [n_features, *spec.hidden, spec.latent_dim]
    return SegmentAutoencoder(
        encoder=_stack(state, "encoder", widths, spec.activation),
        decoder=_stack(state, "decoder", list(reversed(widths)), spec.activation),
        centroids=state.take("centroids", (spec.segments, spec.latent_dim)),
    )


Model = TabularNet | MatrixFactorization | SegmentAutoencoder


def build_model(spec: ModelSpec, shape: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> Model:
    """The numpy twin of worker.models.build_model; `shape` is the manifest's model_shape."""
    state = StateDict(tensors)
    n_features, n_outputs = int(shape.get("n_features", 0)), int(shape.get("n_outputs", 1))
    embeddings = shape.get("embeddings") or ()
    model: Model
    if isinstance(spec, LogisticModel):
        model = build_logistic(state, n_features, n_outputs, embeddings)
    elif isinstance(spec, MLPModel):
        model = build_mlp(spec, state, n_features, n_outputs, embeddings)
    elif isinstance(spec, MatrixFactorizationModel):
        model = build_matrix_factorization(spec, state, int(shape["n_users"]), int(shape["n_items"]), int(shape.get("seen", 0)))
    elif isinstance(spec, AutoencoderModel):
        model = build_autoencoder(spec, state, n_features)
    else:
        raise CheckpointError(f"cannot score model type {type(spec).__name__}")
    state.finish()
    return model
