"""Models for one-row-per-customer tables: logistic (linear) and MLP heads."""

from __future__ import annotations

import torch
from torch import nn

from adamant.spec import Activation, LogisticModel, MLPModel

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
}


def activation(name: Activation) -> nn.Module:
    return ACTIVATIONS[name]()


def build_logistic(spec: LogisticModel, n_features: int, n_outputs: int) -> nn.Module:
    """A single linear layer: logistic regression for classes, linear regression for values."""
    return TabularNet(nn.Linear(n_features, n_outputs))


def build_mlp(spec: MLPModel, n_features: int, n_outputs: int) -> nn.Module:
    layers: list[nn.Module] = []
    width = n_features
    for hidden in spec.hidden:
        layers.append(nn.Linear(width, hidden))
        if spec.batch_norm:
            layers.append(nn.BatchNorm1d(hidden))
        layers.append(activation(spec.activation))
        if spec.dropout > 0:
            layers.append(nn.Dropout(spec.dropout))
        width = hidden
    layers.append(nn.Linear(width, n_outputs))
    return TabularNet(nn.Sequential(*layers))


class TabularNet(nn.Module):
    """Features in, one logit / value per output out (a single output is squeezed to [batch])."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out.squeeze(-1) if out.shape[-1] == 1 else out
