"""What a user sends to start a sweep or a comparison (pydantic at the edge)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from adamant import asha
from adamant.metric_names import metric_table, monitorable
from adamant.spec import FiniteJSON, Float, Int, JobSpec, OptimizerName, raise_field_errors

# Paths into the job spec a sweep may search over.
SEARCHABLE = {
    "optimizer.lr", "optimizer.beta1", "optimizer.beta2", "optimizer.eps", "optimizer.weight_decay",
    "optimizer.decoupled_weight_decay", "optimizer.amsgrad", "schedule.type", "schedule.warmup_epochs",
    "training.batch_size", "model.dropout", "model.hidden", "model.embedding_dim", "model.regularization",
}
MAX_TRIALS = 200  # per sweep; a grid may not have more combinations than its sweep runs


class Strict(BaseModel):
    # No NaN/Infinity in any float (a sweep stored with one could not be read back).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class LogUniform(Strict):
    type: Literal["log_uniform"] = "log_uniform"
    low: Float = Field(..., gt=0)
    high: Float = Field(..., gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> LogUniform:
        if self.low >= self.high:
            raise ValueError("low must be below high")
        return self


class Uniform(Strict):
    type: Literal["uniform"] = "uniform"
    low: Float
    high: Float

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.low >= self.high:
            raise ValueError("low must be below high")
        return self


class Choice(Strict):
    type: Literal["choice"] = "choice"
    values: list[FiniteJSON] = Field(..., min_length=1, max_length=100)


Distribution = Annotated[LogUniform | Uniform | Choice, Field(discriminator="type")]


def grid_size(space: Mapping[str, Any]) -> int:
    """How many combinations a grid over `space` has: counted, never enumerated (10 paths of
    100 values are 10^20 of them)."""
    return math.prod(len(distribution.values) for distribution in space.values())


class ASHA(Strict):
    """Asynchronous successive halving: at rungs of grace_epochs·η^k, a trial whose metric is not
    in the top 1/η of the values seen at that rung is stopped (Li et al., 2020; the rule of
    Optuna's SuccessiveHalvingPruner)."""

    type: Literal["asha"] = "asha"
    grace_epochs: Int = Field(1, ge=1, le=1000)
    reduction_factor: Int = Field(3, ge=2, le=10)


class SweepRequest(Strict):
    name: str | None = Field(None, max_length=200)
    base: JobSpec
    space: dict[str, Distribution] = Field(..., min_length=1, max_length=10, description="job spec path -> distribution")
    method: Literal["grid", "random", "tpe"] = "random"
    trials: Int = Field(12, ge=1, le=MAX_TRIALS, description="random/tpe: 12 by default; grid: every combination")
    parallelism: Int = Field(2, ge=1, le=20)
    metric: str | None = Field(None, description="default: the task's metric (val_auc, val_rmse, ...)")
    mode: Literal["min", "max"] | None = None
    early_stopping: ASHA | None = None
    seed: Int = Field(0, ge=0)

    @model_validator(mode="after")
    def _searchable(self) -> SweepRequest:
        bad = sorted(set(self.space) - SEARCHABLE)
        if bad:
            raise ValueError(f"cannot search over {bad}; searchable: {sorted(SEARCHABLE)}")
        if self.method == "grid" and not all(isinstance(d, Choice) for d in self.space.values()):
            raise ValueError("grid search needs a 'choice' list for every parameter")
        if self.method == "grid":
            self._fit_grid()
        refuse_unreported_metric(self.base, self.metric, ("metric",))
        return self

    def _fit_grid(self) -> None:
        """A grid runs every combination once: `trials` defaults to their count and may not be
        below it (a silently truncated grid would only ever vary its last paths)."""
        combinations = grid_size(self.space)
        limit = self.trials if "trials" in self.model_fields_set else MAX_TRIALS
        if combinations > limit:
            bound = f"trials ({self.trials})" if limit == self.trials else f"the {MAX_TRIALS} trials a sweep may run"
            fix = f"set trials to {combinations} or list fewer values" if combinations <= MAX_TRIALS else "list fewer values"
            error = PydanticCustomError(
                "grid_too_large", "the grid has {combinations} combinations, more than {bound}: {fix}",
                {"combinations": combinations, "bound": bound, "fix": fix},
            )
            raise ValidationError.from_exception_data(
                type(self).__name__, [InitErrorDetails(type=error, loc=("space",), input=combinations)])
        self.trials = combinations

    @property
    def objective(self) -> tuple[str, str]:
        return asha.objective(self.base.monitor, self.metric, self.mode)


class OptimizerChoice(Strict):
    name: OptimizerName
    lr: Float | None = Field(None, gt=0, le=10)
    label: str | None = Field(None, max_length=100)
    overrides: dict[str, FiniteJSON] = Field(default_factory=dict, description="other optimizer fields")


class Target(Strict):
    metric: str
    value: Float


def refuse_unreported_metric(base: JobSpec, metric: str | None, loc: tuple[str, ...]) -> None:
    """A metric the trials never report would leave every trial unranked: a 422 naming it."""
    task, feedback = base.task, base.dataset.feedback
    if metric is not None and metric not in metric_table(task, feedback):
        names = ", ".join(monitorable(task, feedback))
        raise_field_errors("request", [(loc, f"{metric!r} is not a metric {task} reports; use one of: {names}", metric)])


class ComparisonRequest(Strict):
    name: str | None = Field(None, max_length=200)
    base: JobSpec
    optimizers: list[OptimizerName | OptimizerChoice] = Field(
        default_factory=lambda: ["adam", "adamw", "amsgrad", "sgd", "rmsprop", "adagrad", "adadelta"], min_length=1, max_length=20
    )
    seeds: list[Int] = Field(default_factory=lambda: [0], min_length=1, max_length=10)
    parallelism: Int = Field(2, ge=1, le=20)
    target: Target | None = Field(None, description="report time and epochs to reach metric >= value (<= for losses)")

    @model_validator(mode="after")
    def _target_reported(self) -> ComparisonRequest:
        if self.target is not None:
            refuse_unreported_metric(self.base, self.target.metric, ("target", "metric"))
        return self
