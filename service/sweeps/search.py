"""Proposing trial configurations: grid, seeded random, or TPE (Optuna) over recorded trials.

Every proposal is a pure function of the request and the trials recorded so far, so a new
controller after a crash proposes what the old one would have.
"""

from __future__ import annotations

import math
import random
from typing import Any

from service.sweeps.requests import Choice, LogUniform, SweepRequest, Uniform, grid_size


def grid_point(request: SweepRequest, number: int) -> dict[str, Any]:
    """The grid's combination `number`, in itertools.product order over the sorted paths (the
    last path varies fastest), computed from the number alone: the grid is never built."""
    names = sorted(request.space)
    if not 0 <= number < grid_size(request.space):
        raise IndexError(f"the grid has no combination {number}")
    point: dict[str, Any] = {}
    for name in reversed(names):  # mixed radix: each path's value count is its digit's base
        values = request.space[name].values  # type: ignore[union-attr]
        number, digit = divmod(number, len(values))
        point[name] = values[digit]
    return {name: point[name] for name in names}


def total_trials(request: SweepRequest) -> int:
    """A grid runs each combination once (the request refuses a grid larger than its trials)."""
    return min(request.trials, grid_size(request.space)) if request.method == "grid" else request.trials


def _sample(rng: random.Random, distribution: Any) -> Any:
    if isinstance(distribution, LogUniform):
        return math.exp(rng.uniform(math.log(distribution.low), math.log(distribution.high)))
    if isinstance(distribution, Uniform):
        return rng.uniform(distribution.low, distribution.high)
    return rng.choice(distribution.values)


def propose(request: SweepRequest, number: int, finished: list[tuple[dict[str, Any], float | None, str]]) -> dict[str, Any]:
    """The configuration of trial `number`, given (params, value, state) of the trials so far."""
    if request.method == "grid":
        return grid_point(request, number)
    if request.method == "random" or not any(value is not None for _, value, _ in finished):
        rng = random.Random(request.seed * 100_003 + number)
        return {name: _sample(rng, request.space[name]) for name in sorted(request.space)}
    return _tpe(request, number, finished)


def _tpe(request: SweepRequest, number: int, finished: list[tuple[dict[str, Any], float | None, str]]) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {name: _optuna_distribution(d) for name, d in request.space.items()}
    _, mode = request.objective
    study = optuna.create_study(
        direction="minimize" if mode == "min" else "maximize",
        sampler=optuna.samplers.TPESampler(seed=request.seed * 100_003 + number, n_startup_trials=4),
    )
    for params, value, state in finished:
        if value is None:
            continue
        trial_state = optuna.trial.TrialState.PRUNED if state == "pruned" else optuna.trial.TrialState.COMPLETE
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=distributions, value=value if trial_state is optuna.trial.TrialState.COMPLETE else None,
            intermediate_values={0: value} if trial_state is optuna.trial.TrialState.PRUNED else None, state=trial_state,
        ))
    return dict(study.ask(distributions).params)


def _optuna_distribution(distribution: Any):  # type: ignore[no-untyped-def]
    import optuna

    if isinstance(distribution, LogUniform):
        return optuna.distributions.FloatDistribution(distribution.low, distribution.high, log=True)
    if isinstance(distribution, Uniform):
        return optuna.distributions.FloatDistribution(distribution.low, distribution.high)
    assert isinstance(distribution, Choice)
    return optuna.distributions.CategoricalDistribution([_hashable(v) for v in distribution.values])


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def apply(base: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The base spec (as JSON) with each dotted path set to its value."""
    spec = _copy(base)
    for path, value in params.items():
        node = spec
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = list(value) if isinstance(value, tuple) else value
    return spec


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
