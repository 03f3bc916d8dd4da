"""The optimizer a job spec names, with the settings it asks for."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from adamant.exceptions import SpecError
from adamant.spec import OptimizerSpec
from worker.adam import Adam, build_optimizer, supports_sparse_grads


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 1))


def test_adam_is_ours_with_the_spec_hyperparameters():
    spec = OptimizerSpec(
        name="adam", lr=3e-3, beta1=0.8, beta2=0.99, eps=1e-7, weight_decay=0.01, implementation="multi_tensor"
    )
    optimizer = build_optimizer(spec, model())
    assert type(optimizer) is Adam
    group = optimizer.param_groups[0]
    assert group["name"] == "decay"
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"]) == (3e-3, (0.8, 0.99), 1e-7, 0.01)
    assert group["implementation"] == "multi_tensor"
    assert group["decoupled_weight_decay"] is False and group["amsgrad"] is False
    assert optimizer.param_groups[1]["name"] == "no_decay" and optimizer.param_groups[1]["weight_decay"] == 0.0


def test_adamw_means_decoupled_decay():
    optimizer = build_optimizer(OptimizerSpec(name="adamw", weight_decay=0.1), model())
    assert type(optimizer) is Adam
    assert all(g["decoupled_weight_decay"] for g in optimizer.param_groups)


def test_amsgrad_means_adam_with_amsgrad():
    optimizer = build_optimizer(OptimizerSpec(name="amsgrad"), model())
    assert type(optimizer) is Adam
    assert all(g["amsgrad"] for g in optimizer.param_groups)


def test_decoupled_and_amsgrad_flags_also_work_on_plain_adam():
    optimizer = build_optimizer(OptimizerSpec(name="adam", decoupled_weight_decay=True, amsgrad=True), model())
    group = optimizer.param_groups[0]
    assert group["decoupled_weight_decay"] and group["amsgrad"]


def test_decay_all_params_decays_norm_layers_too():
    optimizer = build_optimizer(OptimizerSpec(weight_decay=0.1, decay_all_params=True), model())
    assert [(g["name"], g["weight_decay"]) for g in optimizer.param_groups] == [("decay", 0.1)]


@pytest.mark.parametrize(
    ("spec", "cls", "settings"),
    [
        (
            OptimizerSpec(name="sgd", lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.01),
            torch.optim.SGD,
            {"momentum": 0.8, "nesterov": True, "lr": 0.1},
        ),
        (
            OptimizerSpec(name="rmsprop", lr=0.01, alpha=0.95, eps=1e-6),
            torch.optim.RMSprop,
            {"alpha": 0.95, "eps": 1e-6, "momentum": 0},
        ),
        (OptimizerSpec(name="adagrad", lr=0.05, eps=1e-9), torch.optim.Adagrad, {"eps": 1e-9, "lr": 0.05}),
        (
            OptimizerSpec(name="adadelta", lr=1.0, rho=0.95, eps=1e-6),
            torch.optim.Adadelta,
            {"rho": 0.95, "eps": 1e-6, "lr": 1.0},
        ),
    ],
    ids=["sgd", "rmsprop", "adagrad", "adadelta"],
)
def test_comparison_optimizers_come_from_torch_with_the_spec_settings(spec, cls, settings):
    net = model()
    optimizer = build_optimizer(spec, net)
    assert type(optimizer) is cls
    for group in optimizer.param_groups:
        for key, value in settings.items():
            assert group[key] == value, key
    assert [g["name"] for g in optimizer.param_groups] == ["decay", "no_decay"]
    net(torch.randn(3, 4)).sum().backward()
    optimizer.step()


def test_nesterov_without_momentum_is_a_spec_error():
    with pytest.raises(SpecError, match="optimizer.nesterov"):
        build_optimizer(OptimizerSpec(name="sgd", momentum=0.0, nesterov=True), model())


class Recommender(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.items = nn.Embedding(30, 4, sparse=True)
        self.head = nn.Linear(4, 1)

    def forward(self, ids):
        return self.head(self.items(ids))


SPARSE_CASES = [
    OptimizerSpec(name=name, **extra)
    for name in ("adam", "adamw", "amsgrad", "sgd", "rmsprop", "adagrad", "adadelta")
    for extra in ({}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "decay_all_params": True})
] + [OptimizerSpec(name="sgd", momentum=0.0), OptimizerSpec(name="sgd", nesterov=True)]


def spec_id(s: OptimizerSpec) -> str:
    return f"{s.name}-wd={s.weight_decay}-all={s.decay_all_params}-m={s.momentum}-n={s.nesterov}"


@pytest.mark.parametrize("spec", SPARSE_CASES, ids=spec_id)
@pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")
def test_supports_sparse_grads_tells_the_truth(spec):
    net = Recommender()
    optimizer = build_optimizer(spec, net)

    def train():
        for k in range(3):
            optimizer.zero_grad()
            net(torch.tensor([k, k + 1, 7])).sum().backward()
            optimizer.step()

    if supports_sparse_grads(spec):
        train()
    elif spec.name == "sgd" and spec.momentum and (spec.weight_decay == 0 or not spec.decay_all_params):
        train()  # torch takes them, but keeps a sparse momentum buffer that grows: we train dense
        assert any(state["momentum_buffer"].is_sparse for state in optimizer.state.values())
    else:
        with pytest.raises(RuntimeError, match="sparse"):
            train()
