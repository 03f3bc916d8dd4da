"""A comparison runs each optimizer as torch builds it when given only the parameters.

Issue 10, item 18: Adadelta ran at Adam's eps (1e-8, torch's is 1e-6) and RMSprop at Adam's lr
(1e-3, torch's is 1e-2). Here the spec the controller builds for each comparison run goes
through the worker's build_optimizer, and the optimizer it makes is checked against the
defaults in torch's own signatures.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch
from torch import nn

from adamant.store.models import Sweep, Trial
from service.sweeps.comparison import TORCH_DEFAULTS, comparison_trials
from service.sweeps.controller import _child_spec
from service.sweeps.requests import ComparisonRequest
from worker.adam import build_optimizer

BASE = {"task": "binary_classification", "dataset": {"ref": "builtin:bank-marketing", "target": "y"}, "model": {"type": "mlp"}}
NOT_HYPERPARAMETERS = {"params", "foreach", "maximize", "capturable", "differentiable", "fused"}
# Which torch optimizer each name stands for (our Adam core stands in for Adam and AdamW).
TORCH_CLASS: dict[str, tuple[type[torch.optim.Optimizer], dict[str, Any]]] = {
    "adam": (torch.optim.Adam, {}),
    "adamw": (torch.optim.AdamW, {}),
    "amsgrad": (torch.optim.Adam, {"amsgrad": True}),
    "sgd": (torch.optim.SGD, {}),
    "rmsprop": (torch.optim.RMSprop, {}),
    "adagrad": (torch.optim.Adagrad, {}),
    "adadelta": (torch.optim.Adadelta, {}),
}


def torch_defaults(name: str) -> dict[str, Any]:
    cls, implied = TORCH_CLASS[name]
    parameters = inspect.signature(cls).parameters.values()
    return {p.name: p.default for p in parameters if p.name not in NOT_HYPERPARAMETERS} | implied


def built_for_comparison(name: str, **choice: Any) -> torch.optim.Optimizer:
    request = ComparisonRequest(base=BASE, optimizers=[{"name": name, **choice}])
    [(label, params)] = comparison_trials(request)
    spec = _child_spec(request, Sweep(id="c1", name="defaults"), Trial(number=0, label=label, params=params))
    return build_optimizer(spec.optimizer, nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1)))


@pytest.mark.parametrize("name", sorted(TORCH_CLASS))
def test_each_compared_optimizer_runs_with_torchs_defaults(name: str) -> None:
    optimizer = built_for_comparison(name)
    expected = torch_defaults(name)
    assert {key: optimizer.defaults[key] for key in expected} == expected


def test_the_service_table_of_defaults_is_torchs() -> None:
    """TORCH_DEFAULTS (the service's copy, in spec names) agrees with torch's signatures."""
    spec_names = {"betas": ("beta1", "beta2")}
    for name, defaults in TORCH_DEFAULTS.items():
        expected = torch_defaults(name)
        for key, value in defaults.items():
            torch_key = next((k for k, parts in spec_names.items() if key in parts), key)
            torch_value = expected[torch_key]
            if torch_key == "betas":
                torch_value = torch_value[spec_names["betas"].index(key)]
            assert value == torch_value, (name, key)


def test_what_the_user_gives_wins_over_the_defaults() -> None:
    optimizer = built_for_comparison("rmsprop", lr=0.003, overrides={"eps": 1e-6})
    assert (optimizer.defaults["lr"], optimizer.defaults["eps"], optimizer.defaults["alpha"]) == (0.003, 1e-6, 0.99)
