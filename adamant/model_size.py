"""How large a spec's model is, torch-free: parameters, training memory and checkpoint bytes,
and the refusal of a model past the deployment's limits, naming the fields that make it large.

The service checks at submit from the dataset's schema (a lower bound: it never refuses a model
that fits), the dry run and the worker from the prepared data (exact: `parameter_count` is the
count of the torch modules worker/models builds; tests/worker/models/test_model_size.py holds it
to them). An 8-billion-parameter model is a 422 before it is queued, or a user error the worker
records once, never "a bug in Adamant" after the worker ran out of memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from adamant.datasets.schema import MAX_CATEGORY_LEVELS
from adamant.exceptions import ModelTooLarge
from adamant.preparation.preprocessing import embedding_dim
from adamant.spec import AutoencoderModel, JobSpec, LogisticModel, MatrixFactorizationModel, MLPModel

if TYPE_CHECKING:
    from adamant.preparation import PreparedData

FLOAT_BYTES = 4  # weights, gradients and optimizer state are float32
MANIFEST_BYTES = 16_384  # a checkpoint's JSON manifest: spec, preprocessing, metrics (order of magnitude)
# Activations kept for the backward pass, per row and unit of width: forward value, its gradient
# and the activation function's / dropout's saved copy. Rough on purpose: it names the order of magnitude.
ACTIVATION_COPIES = 3
# Values per parameter each optimizer keeps (Adam: m and v; AMSGrad: and max v; Adadelta: two averages).
OPTIMIZER_STATE = {"adam": 2, "adamw": 2, "amsgrad": 3, "sgd": 1, "rmsprop": 1, "adagrad": 1, "adadelta": 2}


@dataclass(frozen=True)
class DataShape:
    """What the data gives a model: input width, outputs, and (recommendation) users and items."""

    n_features: int = 1
    n_outputs: int = 1
    n_users: int = 1
    n_items: int = 1
    embeddings: tuple[tuple[int, int], ...] = ()  # (rows, dim) of each embedded column's table

    @property
    def input_width(self) -> int:
        """What a tabular model's first layer reads: the features and every embedded vector."""
        return self.n_features + sum(dim for _, dim in self.embeddings)

    @property
    def embedding_parameters(self) -> int:
        return sum(rows * dim for rows, dim in self.embeddings)


@dataclass(frozen=True)
class SizeEstimate:
    parameters: int
    weights_bytes: int
    optimizer_state_bytes: int
    gradient_bytes: int
    activation_bytes: int
    checkpoint_bytes: int

    @property
    def training_memory_bytes(self) -> int:
        """Weights, gradients, optimizer state and one batch's activations."""
        return self.weights_bytes + self.gradient_bytes + self.optimizer_state_bytes + self.activation_bytes

    def to_dict(self) -> dict[str, int]:
        return asdict(self) | {"training_memory_bytes": self.training_memory_bytes}


def prepared_shape(spec: JobSpec, data: PreparedData) -> DataShape:
    """The exact shape of prepared data, as worker.engine.setup.model_shape gives it to the model zoo."""
    if spec.task == "recommendation":
        return DataShape(n_features=0, n_users=data.n_users, n_items=data.n_items)
    outputs = data.n_classes if spec.task == "multiclass_classification" and data.n_classes else 1
    return DataShape(n_features=data.n_features, n_outputs=outputs, embeddings=data.preprocessing.embeddings)


def _dense(widths: list[int]) -> int:
    return sum((a + 1) * b for a, b in zip(widths, widths[1:]))


def parameter_count(spec: JobSpec, shape: DataShape) -> int:
    """The trainable parameters of the model worker/models builds for `spec` on data of `shape`."""
    model = spec.model
    if isinstance(model, LogisticModel):
        return (shape.input_width + 1) * shape.n_outputs + shape.embedding_parameters
    if isinstance(model, MLPModel):
        norms = 2 * sum(model.hidden) if model.batch_norm else 0
        return _dense([shape.input_width, *model.hidden, shape.n_outputs]) + norms + shape.embedding_parameters
    if isinstance(model, MatrixFactorizationModel):
        d = model.embedding_dim
        rows = shape.n_users + 1 + shape.n_items + 1  # index 0 of each table: the unknown user / item
        count = rows * d + 1
        if model.biases:
            count += rows
        if model.ncf_hidden:
            count += _dense([2 * d, *model.ncf_hidden]) + (d + model.ncf_hidden[-1] + 1)
        return count
    if isinstance(model, AutoencoderModel):
        widths = [shape.n_features, *model.hidden, model.latent_dim]
        return _dense(widths) + _dense(widths[::-1])  # the decoder mirrors the encoder; its biases do not
    raise TypeError(type(model).__name__)


def _activation_widths(spec: JobSpec, shape: DataShape) -> int:
    """Units one row passes through in a forward pass (its input included)."""
    model = spec.model
    if isinstance(model, LogisticModel):
        return shape.input_width + shape.n_outputs
    if isinstance(model, MLPModel):
        return shape.input_width + sum(model.hidden) + shape.n_outputs
    if isinstance(model, MatrixFactorizationModel):
        return 4 * model.embedding_dim + sum(model.ncf_hidden) + 1
    if isinstance(model, AutoencoderModel):
        return 2 * (shape.n_features + sum(model.hidden)) + model.latent_dim
    raise TypeError(type(model).__name__)


def estimate(spec: JobSpec, shape: DataShape) -> SizeEstimate:
    parameters = parameter_count(spec, shape)
    moments = 3 if spec.optimizer.effective_amsgrad and spec.optimizer.is_adam else OPTIMIZER_STATE[spec.optimizer.name]
    weights = FLOAT_BYTES * parameters
    state = FLOAT_BYTES * parameters * moments
    activations = FLOAT_BYTES * ACTIVATION_COPIES * spec.training.batch_size * _activation_widths(spec, shape)
    return SizeEstimate(
        parameters=parameters,
        weights_bytes=weights,
        optimizer_state_bytes=state,
        gradient_bytes=weights,
        activation_bytes=activations,
        checkpoint_bytes=weights + state + MANIFEST_BYTES,
    )


def size_fields(spec: JobSpec) -> list[str]:
    """The spec's fields that make its model large: what a user changes to make it fit."""
    model = spec.model
    if isinstance(model, LogisticModel):
        return ["dataset.features", "dataset.drop"]
    if isinstance(model, MLPModel):
        return ["model.hidden", "dataset.features", "dataset.drop"]
    if isinstance(model, MatrixFactorizationModel):
        return ["model.embedding_dim", *(["model.ncf_hidden"] if model.ncf_hidden else [])]
    return ["model.hidden", "model.latent_dim", "dataset.features", "dataset.drop"]


def check_model_size(spec: JobSpec, shape: DataShape, *, max_parameters: int, max_memory_bytes: int) -> SizeEstimate:
    """The estimate, or ModelTooLarge naming the fields to change when it is past a limit."""
    size = estimate(spec, shape)
    if size.parameters > max_parameters:
        raise ModelTooLarge(
            f"the model has {size.parameters:,} parameters, more than the {max_parameters:,} this deployment "
            f"trains (ADAMANT_MAX_MODEL_PARAMETERS); its checkpoint would be {_gb(size.checkpoint_bytes)}: "
            f"make {' or '.join(size_fields(spec))} smaller",
            fields=size_fields(spec), estimate=size.to_dict(),
        )
    if size.training_memory_bytes > max_memory_bytes:
        fields = ["training.batch_size", *size_fields(spec)]
        raise ModelTooLarge(
            f"training would need about {_gb(size.training_memory_bytes)} of memory ({_gb(size.activation_bytes)} of it "
            f"one batch's activations), more than the {_gb(max_memory_bytes)} this deployment allows "
            f"(ADAMANT_MAX_TRAINING_MEMORY_BYTES): make {' or '.join(fields)} smaller",
            fields=fields, estimate=size.to_dict(),
        )
    return size


def _gb(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"


def shape_from_schema(spec: JobSpec, columns: Iterable[Mapping[str, Any]]) -> DataShape:
    """A lower bound of the data's shape from a table's schema (adamant.datasets.schema.describe_table's
    `columns`: name, kind, distinct): every feature column is at least one input, a category at
    least one per level it keeps; users and items at least the distinct ids seen. A lower bound,
    so a model refused from it is too large whatever the full table holds."""
    by_name = {str(column["name"]): column for column in columns}
    dataset = spec.dataset
    if spec.task == "recommendation":
        return DataShape(
            n_features=0,
            n_users=int(by_name.get(dataset.user_column or "", {}).get("distinct") or 1),
            n_items=int(by_name.get(dataset.item_column or "", {}).get("distinct") or 1),
        )
    left_out = {dataset.target, dataset.id_column, dataset.validation.column, *dataset.drop}
    names = dataset.features if dataset.features is not None else [n for n in by_name if n not in left_out]
    inputs = 0
    for name in names:
        column = by_name.get(name)
        if column is None or column.get("kind") == "id":
            continue
        distinct = int(column.get("distinct") or 1)
        if column.get("kind") != "categorical":
            inputs += 1
        elif distinct > MAX_CATEGORY_LEVELS and dataset.high_cardinality == "embed" and spec.task != "segmentation":
            inputs += embedding_dim(0)  # embedded: its vector is at least this wide
        else:
            inputs += max(1, min(distinct, MAX_CATEGORY_LEVELS))
    outputs = 1
    if spec.task == "multiclass_classification" and dataset.target in by_name:
        outputs = max(2, int(by_name[dataset.target].get("distinct") or 2))
    return DataShape(n_features=max(inputs, 1), n_outputs=outputs)
