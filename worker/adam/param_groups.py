"""Which parameters get weight decay: the usual "decay the weights, not the rest" split.

Decay pulls a parameter toward zero. That is a prior worth having on the weight matrices of
linear and convolutional layers, but not on:

- biases (a shift; shrinking it only biases the output),
- normalization layers' scale and shift (BatchNorm/LayerNorm/GroupNorm/InstanceNorm/RMSNorm:
  decaying the scale toward 0 fights the normalization),
- embeddings (a row is decayed only on the steps it is looked up, so rare users and items
  would shrink at a different rate from popular ones; and a lazy row update would have to
  touch every row to decay them all).

The training engine reports per-group metrics by each group's ``"name"``.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

DECAY = "decay"
NO_DECAY = "no_decay"

# Layers whose every parameter is left undecayed.
NO_DECAY_MODULES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,  # BatchNorm*, SyncBatchNorm, InstanceNorm*
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    nn.RMSNorm,
    nn.Embedding,
    nn.EmbeddingBag,
)


def param_groups(model: nn.Module, weight_decay: float, decay_all: bool = False) -> list[dict[str, Any]]:
    """Split ``model``'s trainable parameters into a decayed and an undecayed group.

    Returns ``[{"name": "decay", "params": [...], "weight_decay": weight_decay},
    {"name": "no_decay", "params": [...], "weight_decay": 0.0}]`` without empty groups, in
    the order ``model.parameters()`` yields them. With ``decay_all`` every parameter is decayed.
    Frozen parameters (``requires_grad=False``) are left out. A parameter shared by several
    modules (tied weights) is undecayed if any module that owns it says so.
    """
    undecayed: set[int] = set()
    if not decay_all:
        for module in model.modules():
            for name, p in module.named_parameters(recurse=False):
                if isinstance(module, NO_DECAY_MODULES) or _is_bias(name, p):
                    undecayed.add(id(p))

    decay: list[Tensor] = []
    no_decay: list[Tensor] = []
    for p in model.parameters():  # each shared parameter once
        if p.requires_grad:
            (no_decay if id(p) in undecayed else decay).append(p)

    groups = [
        {"name": DECAY, "params": decay, "weight_decay": weight_decay},
        {"name": NO_DECAY, "params": no_decay, "weight_decay": 0.0},
    ]
    return [group for group in groups if group["params"]]


def _is_bias(name: str, p: Tensor) -> bool:
    return p.ndim <= 1 and name.endswith("bias")
