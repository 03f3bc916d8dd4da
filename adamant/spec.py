"""The job spec: what a user asks the service to train. Torch-free; shared by all processes.

Every model here forbids unknown fields, so a typo is a 422 naming the field rather than a
silently ignored setting. Cross-field rules (model fits task, early stopping needs a monitor)
live in validators that raise with the offending field's path.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from adamant.exceptions import StoredSpecInvalid
from adamant.metric_names import better_direction, metric_table, monitorable

Task = Literal[
    "binary_classification",
    "multiclass_classification",
    "regression",
    "recommendation",
    "segmentation",
]
CLASSIFICATION_TASKS = ("binary_classification", "multiclass_classification")
TABULAR_TASKS = ("binary_classification", "multiclass_classification", "regression")

# The metric a task is judged by when the spec does not name one, and which way is better.
DEFAULT_MONITOR: dict[str, tuple[str, Literal["min", "max"]]] = {
    "binary_classification": ("val_auc", "max"),
    "multiclass_classification": ("val_accuracy", "max"),
    "regression": ("val_rmse", "min"),
    "recommendation": ("val_rmse", "min"),
    "segmentation": ("val_loss", "min"),
}
IMPLICIT_MONITOR: tuple[str, Literal["min", "max"]] = ("val_ndcg_10", "max")  # dataset.feedback "implicit"


def raise_field_errors(title: str, problems: list[tuple[tuple[str, ...], str, object]]) -> None:
    """Raise one ValidationError whose entries carry each problem's field path (for the 422)."""
    if not problems:
        return
    details = [
        InitErrorDetails(type=PydanticCustomError("invalid_combination", message), loc=loc, input=value)
        for loc, message, value in problems
    ]
    raise ValidationError.from_exception_data(title, details)


def refuse_non_finite(value: Any) -> Any:
    """Refuse NaN and ±Infinity anywhere inside a free-form JSON value (lists and objects too).

    Python's json reads `NaN`, `Infinity` and `1e400` as floats, and a stored job would write
    them back as null: a number that is not finite is an error at the edge, never later."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise PydanticCustomError("finite_number", "Input should be a finite number (not NaN or Infinity)")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return value


def refuse_non_number(value: Any) -> Any:
    """A number field takes a JSON number: `true` is not 1 and `"3"` is not 3.

    pydantic's lax mode would read both as numbers (a boolean is an int in Python), so a client's
    slip silently became a setting; the JSON schema says integer/number and the API holds to it."""
    if isinstance(value, (bool, str, bytes)):
        kind = "a boolean" if isinstance(value, bool) else "a string"
        raise PydanticCustomError("number_type", "Input should be a JSON number, not {kind}", {"kind": kind})
    return value


# Number fields of anything a user sends: as int/float, minus the coercions JSON never means.
Int = Annotated[int, BeforeValidator(refuse_non_number)]
Float = Annotated[float, BeforeValidator(refuse_non_number)]


# A free-form JSON value (sweep choices, optimizer overrides) held to the same rule as typed floats.
FiniteJSON = Annotated[Any, AfterValidator(refuse_non_finite)]


def refuse_non_scalar_cell(value: Any) -> Any:
    """One table cell sent as JSON: a string, a boolean, null, or a number a float64 can hold.

    A list or an object is not a cell, and json reads 10**400 as an int no float can hold:
    both are a 422 naming the cell rather than a 500 from deep inside pandas."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            raise PydanticCustomError("number_too_large", "Input should be a number within ±1.8e308 (a float64)") from None
        return value
    if isinstance(value, float):
        return refuse_non_finite(value)
    kind = "an object" if isinstance(value, dict) else "a list" if isinstance(value, (list, tuple)) else type(value).__name__
    raise PydanticCustomError("cell_type", "Input should be one value (a string, number, boolean or null), not {kind}", {"kind": kind})


# A cell of a row sent to predict: see refuse_non_scalar_cell (the schema says so to clients too).
CellValue = Annotated[
    Any,
    AfterValidator(refuse_non_scalar_cell),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]}),
]


class SpecModel(BaseModel):
    # allow_inf_nan=False: every float field refuses NaN/Infinity with a 422 naming it (a stored
    # Infinity becomes null and the job could never be loaded again).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ValidationSplit(SpecModel):
    fraction: Float = Field(0.2, gt=0.0, lt=1.0, description="Share of rows held out.")
    seed: Int = Field(0, ge=0, description="Seed of the split; the same seed gives the same rows.")
    stratify: bool = Field(True, description="Keep class shares equal in both parts (classification).")
    column: str | None = Field(
        None,
        description=(
            "Your own split instead of a random one: rows where this column is true / 1 / yes / "
            "validation / test are held out (fraction and seed are then unused)."
        ),
    )


class DatasetSpec(SpecModel):
    ref: str = Field(
        ...,
        min_length=1,
        max_length=2048,
        description=(
            "builtin:<name> (see GET /v1/datasets/builtin), dataset:<id> (an upload), "
            "file:<path> (a file, or a folder of Hive-partitioned Parquet files) under an allowed root, or an object-store URI."
        ),
        examples=["builtin:bank-marketing"],
    )
    target: str | None = Field(None, description="Column to predict (not used for segmentation).")
    features: list[str] | None = Field(None, description="Columns to use; default: all but target, drop and id.")
    drop: list[str] = Field(default_factory=list, description="Columns to leave out.")
    id_column: str | None = Field(None, description="Customer id carried through to predictions.")
    user_column: str | None = Field(None, description="Recommendation: the user id column.")
    item_column: str | None = Field(None, description="Recommendation: the item id column.")
    feedback: Literal["explicit", "implicit"] = Field(
        "explicit",
        description=(
            "Recommendation: 'explicit' learns the target column (a rating); 'implicit' learns from "
            "interactions (each row a purchase, click or open; no target), ranks items and holds out "
            "each user's last interaction for validation."
        ),
    )
    timestamp_column: str | None = Field(
        None, description="Implicit feedback: when each interaction happened; the latest one per user is held out (a random one without it)."
    )
    weight_column: str | None = Field(
        None, description="Implicit feedback: how much an interaction counts (quantity, spend); default 1 each."
    )
    validation: ValidationSplit = Field(default_factory=ValidationSplit)
    format: Literal["auto", "csv", "whitespace", "parquet"] = "auto"
    delimiter: str | None = Field(None, min_length=1, max_length=1, description="CSV delimiter; sniffed when absent.")
    high_cardinality: Literal["embed", "collapse"] = Field(
        "embed",
        description=(
            "A categorical column with more than 50 levels: 'embed' learns a vector per level (levels "
            "with at least 5 training rows); 'collapse' keeps the 50 most frequent levels one-hot and "
            "folds the rest into __other__. Segmentation always collapses."
        ),
    )


class LogisticModel(SpecModel):
    type: Literal["logistic"] = "logistic"


Activation = Literal["relu", "gelu", "tanh", "silu", "leaky_relu"]


class MLPModel(SpecModel):
    type: Literal["mlp"] = "mlp"
    hidden: list[Annotated[Int, Field(ge=1, le=4096)]] = Field(default_factory=lambda: [64, 32], max_length=8)
    activation: Activation = "relu"
    dropout: Float = Field(0.0, ge=0.0, lt=1.0)
    batch_norm: bool = False


class MatrixFactorizationModel(SpecModel):
    type: Literal["matrix_factorization"] = "matrix_factorization"
    embedding_dim: Int = Field(32, ge=1, le=1024)
    biases: bool = True
    ncf_hidden: list[Annotated[Int, Field(ge=1, le=4096)]] = Field(
        default_factory=list, max_length=6, description="Layers of a neural-CF head; empty = dot product."
    )
    dropout: Float = Field(0.0, ge=0.0, lt=1.0)
    regularization: Float = Field(
        0.0,
        ge=0.0,
        le=100.0,
        description=(
            "Classic MF L2 penalty on the embedding rows and biases each batch touches, added to "
            "the loss; unlike weight decay it leaves untouched rows alone and works with sparse gradients."
        ),
    )
    sparse: bool = Field(True, description="Sparse embedding gradients, updated by the lazy Adam form.")
    loss: Literal["auto", "mse", "softmax", "bpr", "bce"] = Field(
        "auto",
        description=(
            "mse: explicit ratings (auto's choice for them). Implicit feedback: 'softmax' (auto's "
            "choice) is the sampled softmax over the positive and `negatives` items shared by the "
            "batch, with the logQ correction; 'bpr' ranks each positive above `negatives` sampled "
            "items; 'bce' is binary cross-entropy on each positive and its `negatives` sampled items."
        ),
    )
    negatives: Int | None = Field(
        None, ge=1, le=100_000,
        description="Sampled negatives: per batch for softmax (default 256), per positive for bpr (default 1) and bce (default 4).",
    )
    negative_sampling: Literal["uniform", "popularity"] = Field(
        "uniform", description="How negatives are drawn: uniformly over the catalogue, or by training popularity^0.75."
    )

    def ranking_loss(self) -> str:
        """The implicit-feedback loss this spec trains with ('auto' resolved)."""
        return "softmax" if self.loss == "auto" else self.loss

    def negatives_per_draw(self) -> int:
        """`negatives`, or the loss's default (see the field)."""
        return self.negatives or {"softmax": 256, "bpr": 1, "bce": 4}.get(self.ranking_loss(), 1)


class AutoencoderModel(SpecModel):
    type: Literal["autoencoder"] = "autoencoder"
    hidden: list[Annotated[Int, Field(ge=1, le=4096)]] = Field(default_factory=lambda: [16], max_length=6)
    latent_dim: Int = Field(2, ge=1, le=256)
    segments: Int = Field(5, ge=2, le=100, description="Number of customer segments (k of k-means on the latent space).")
    activation: Activation = "relu"


ModelSpec = Annotated[
    LogisticModel | MLPModel | MatrixFactorizationModel | AutoencoderModel,
    Field(discriminator="type"),
]
MODELS_FOR_TASK: dict[str, tuple[str, ...]] = {
    "binary_classification": ("logistic", "mlp"),
    "multiclass_classification": ("logistic", "mlp"),
    "regression": ("logistic", "mlp"),
    "recommendation": ("matrix_factorization",),
    "segmentation": ("autoencoder",),
}

OptimizerName = Literal["adam", "adamw", "amsgrad", "sgd", "rmsprop", "adagrad", "adadelta"]
ADAM_FAMILY = ("adam", "adamw", "amsgrad")


class OptimizerSpec(SpecModel):
    name: OptimizerName = Field("adam", description="adamw = adam with decoupled decay; amsgrad = adam with amsgrad.")
    lr: Float = Field(1e-3, gt=0.0, le=10.0)
    beta1: Float = Field(0.9, ge=0.0, lt=1.0)
    beta2: Float = Field(0.999, ge=0.0, lt=1.0)
    eps: Float = Field(1e-8, gt=0.0, le=1.0)
    weight_decay: Float = Field(0.0, ge=0.0, le=10.0)
    decoupled_weight_decay: bool = Field(False, description="AdamW: decay θ by lr·λ outside the gradient.")
    amsgrad: bool = False
    decay_all_params: bool = Field(False, description="Also decay biases, norm layers and embeddings.")
    implementation: Literal["auto", "reference", "multi_tensor", "fused"] = "auto"
    momentum: Float = Field(0.9, ge=0.0, lt=1.0, description="SGD momentum; RMSprop momentum is 0.")
    nesterov: bool = False
    alpha: Float = Field(0.99, ge=0.0, lt=1.0, description="RMSprop smoothing constant.")
    rho: Float = Field(0.9, ge=0.0, lt=1.0, description="Adadelta decay.")

    @property
    def is_adam(self) -> bool:
        return self.name in ADAM_FAMILY

    @property
    def effective_decoupled(self) -> bool:
        return self.decoupled_weight_decay or self.name == "adamw"

    @property
    def effective_amsgrad(self) -> bool:
        return self.amsgrad or self.name == "amsgrad"


ScheduleType = Literal["constant", "step", "exponential", "inverse_time", "cosine", "cyclic", "one_cycle"]


class ScheduleSpec(SpecModel):
    """A learning-rate multiplier over time, measured in (fractional) epochs."""

    type: ScheduleType = "constant"
    warmup_epochs: Float = Field(0.0, ge=0.0, le=1000.0, description="Linear warm-up: step k of the first W steps runs at (k+1)/W of the lr.")
    gamma: Float = Field(0.1, gt=0.0, le=1.0, description="step: factor per step_epochs; exponential: factor per epoch.")
    step_epochs: Float = Field(10.0, gt=0.0, description="step: epochs between decays.")
    decay_rate: Float = Field(1.0, gt=0.0, description="inverse_time: lr / (1 + decay_rate·epoch).")
    min_lr_ratio: Float = Field(0.0, ge=0.0, le=1.0, description="cosine/cyclic: floor as a share of lr.")
    cycle_epochs: Float = Field(2.0, gt=0.0, description="cyclic: length of one triangle.")
    pct_start: Float = Field(0.3, gt=0.0, lt=1.0, description="one_cycle: share of training spent rising.")
    div_factor: Float = Field(25.0, ge=1.0, description="one_cycle: starting lr = lr / div_factor.")
    final_div_factor: Float = Field(1e4, ge=1.0, description="one_cycle: final lr = start / final_div_factor.")


class EarlyStoppingSpec(SpecModel):
    patience: Int = Field(5, ge=1, le=10_000, description="Evaluations without improvement before stopping.")
    min_delta: Float = Field(0.0, ge=0.0)


class TrainingSpec(SpecModel):
    epochs: Int = Field(10, ge=1, le=10_000)
    batch_size: Int = Field(256, ge=1, le=1_000_000)
    seed: Int = Field(0, ge=0, le=2**31 - 1)
    monitor: str | None = Field(None, description="Metric for best checkpoint and early stopping; default per task.")
    monitor_mode: Literal["min", "max"] | None = None
    early_stopping: EarlyStoppingSpec | None = None
    grad_clip_norm: Float | None = Field(None, gt=0.0)
    time_limit_s: Float | None = Field(None, gt=0.0, le=7 * 24 * 3600)
    eval_every_epochs: Int = Field(1, ge=1, le=10_000)
    log_every_steps: Int = Field(10, ge=1, le=1_000_000, description="Steps between training-metric points.")


class CheckpointSpec(SpecModel):
    every_epochs: Int = Field(1, ge=1, le=10_000)
    keep_last: Int = Field(3, ge=1, le=100)
    keep_best: bool = True


class ResourceSpec(SpecModel):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    priority: Int = Field(5, ge=0, le=9, description="0 lowest, 9 highest.")


class JobSpec(SpecModel):
    name: str | None = Field(None, max_length=200)
    task: Task
    dataset: DatasetSpec
    model: ModelSpec
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    checkpointing: CheckpointSpec = Field(default_factory=CheckpointSpec)
    resources: ResourceSpec = Field(default_factory=ResourceSpec)
    init_from: str | None = Field(None, max_length=200, description="A job id whose best checkpoint warm-starts this one.")
    max_restarts: Int = Field(3, ge=0, le=20, description="Infrastructure failures retried before the job fails.")

    @model_validator(mode="after")
    def _parts_fit_together(self) -> JobSpec:
        problems: list[tuple[tuple[str, ...], str, object]] = []
        allowed = MODELS_FOR_TASK[self.task]
        if self.model.type not in allowed:
            problems.append(
                (("model", "type"), f"cannot train task {self.task!r}; use one of {list(allowed)}", self.model.type)
            )
        if self.task == "segmentation":
            if self.dataset.target is not None:
                problems.append((("dataset", "target"), "must be empty for segmentation (it has no label)", self.dataset.target))
        elif self.implicit:
            if self.dataset.target is not None:
                problems.append((("dataset", "target"), "must be empty for implicit feedback (each row is an interaction; "
                                 "a quantity or spend goes in dataset.weight_column)", self.dataset.target))
        elif self.dataset.target is None:
            problems.append((("dataset", "target"), f"is required for task {self.task!r}", None))
        if self.task == "recommendation":
            for field in ("user_column", "item_column"):
                if not getattr(self.dataset, field):
                    problems.append((("dataset", field), "is required for recommendation", None))
        problems += self._feedback_problems()
        if self.optimizer.name == "sgd" and self.optimizer.nesterov and self.optimizer.momentum == 0:
            problems.append((("optimizer", "nesterov"), "needs optimizer.momentum > 0", True))
        if self.training.monitor_mode and not self.training.monitor:
            problems.append((("training", "monitor"), "is required when monitor_mode is set", None))
        feedback = self.dataset.feedback if self.task == "recommendation" else "explicit"
        if self.training.monitor and self.training.monitor not in metric_table(self.task, feedback):
            names = ", ".join(monitorable(self.task, feedback))
            problems.append((("training", "monitor"), f"{self.training.monitor!r} is not a metric {self.task} reports; use one of: {names}",
                             self.training.monitor))
        raise_field_errors("JobSpec", problems)
        return self

    def _feedback_problems(self) -> list[tuple[tuple[str, ...], str, object]]:
        """Implicit-feedback settings belong to implicit recommendation, ranking losses too."""
        problems: list[tuple[tuple[str, ...], str, object]] = []
        dataset = self.dataset
        if dataset.feedback == "implicit" and self.task != "recommendation":
            problems.append((("dataset", "feedback"), "'implicit' is for task 'recommendation'", dataset.feedback))
        for field in ("timestamp_column", "weight_column"):
            if getattr(dataset, field) is not None and not self.implicit:
                problems.append((("dataset", field), "is for dataset.feedback 'implicit'", getattr(dataset, field)))
        model = self.model
        if isinstance(model, MatrixFactorizationModel):
            if self.implicit and model.loss == "mse":
                problems.append((("model", "loss"), "'mse' learns ratings; implicit feedback takes 'softmax', 'bpr' or 'bce'", model.loss))
            if not self.implicit:
                if model.loss not in ("auto", "mse"):
                    problems.append((("model", "loss"), f"{model.loss!r} ranks implicit feedback; set dataset.feedback to "
                                     "'implicit' or use 'mse'", model.loss))
                if model.negatives is not None:
                    problems.append((("model", "negatives"), "is for dataset.feedback 'implicit'", model.negatives))
                if model.negative_sampling != "uniform":
                    problems.append((("model", "negative_sampling"), "is for dataset.feedback 'implicit'", model.negative_sampling))
        return problems

    @property
    def implicit(self) -> bool:
        """An implicit-feedback recommender: it ranks items rather than predicting a rating."""
        return self.task == "recommendation" and self.dataset.feedback == "implicit"

    @property
    def monitor(self) -> tuple[str, Literal["min", "max"]]:
        """The metric that picks the best checkpoint and drives early stopping."""
        name, mode = IMPLICIT_MONITOR if self.implicit else DEFAULT_MONITOR[self.task]
        if self.training.monitor:
            name = self.training.monitor
            mode = self.training.monitor_mode or better_direction(self.task, name, self.dataset.feedback)
        return name, mode


StoredSpec = TypeVar("StoredSpec", bound=SpecModel)


def load_stored_spec(stored: object, model: type[StoredSpec] = JobSpec) -> StoredSpec:  # type: ignore[assignment]
    """A job's spec as the database holds it (a JobSpec, or `model` for other kinds of job), or
    StoredSpecInvalid naming the first bad field.

    A spec stored before a rule it now breaks (a NaN that became null, say) is the user's to
    fix: the job fails once with the reason, rather than crashing every attempt as a lost worker."""
    try:
        return model.model_validate(stored)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        path = ".".join(str(part) for part in first["loc"])
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise StoredSpecInvalid(
            f"the stored spec no longer validates: {first['msg']}{more}; submit the job again with a corrected spec",
            path=path,
        ) from exc
