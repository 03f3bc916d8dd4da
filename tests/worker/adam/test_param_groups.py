"""Which parameters are decayed: weights yes; biases, norm layers and embeddings no."""

from __future__ import annotations

import torch
from torch import nn

from worker.adam import param_groups


class Shop(nn.Module):
    """A bit of everything a marketing model holds."""

    def __init__(self) -> None:
        super().__init__()
        self.items = nn.Embedding(100, 8)
        self.bag = nn.EmbeddingBag(50, 8)
        self.hidden = nn.Linear(16, 32)
        self.batch_norm = nn.BatchNorm1d(32)
        self.layer_norm = nn.LayerNorm(32)
        self.group_norm = nn.GroupNorm(4, 32)
        self.conv = nn.Conv1d(1, 2, 3)
        self.out = nn.Linear(32, 1, bias=True)


def ids(params) -> set[int]:
    return {id(p) for p in params}


def by_name(groups):
    return {group["name"]: group for group in groups}


def test_weights_are_decayed_and_biases_norms_and_embeddings_are_not():
    model = Shop()
    groups = by_name(param_groups(model, weight_decay=0.01))

    assert ids(groups["decay"]["params"]) == ids([model.hidden.weight, model.conv.weight, model.out.weight])
    assert ids(groups["no_decay"]["params"]) == ids(
        [
            model.items.weight,
            model.bag.weight,
            model.hidden.bias,
            model.batch_norm.weight,
            model.batch_norm.bias,
            model.layer_norm.weight,
            model.layer_norm.bias,
            model.group_norm.weight,
            model.group_norm.bias,
            model.conv.bias,
            model.out.bias,
        ]
    )
    assert groups["decay"]["weight_decay"] == 0.01
    assert groups["no_decay"]["weight_decay"] == 0.0


def test_decay_all_puts_every_parameter_in_the_decayed_group():
    model = Shop()
    groups = param_groups(model, weight_decay=0.01, decay_all=True)
    assert [group["name"] for group in groups] == ["decay"]
    assert ids(groups[0]["params"]) == ids(model.parameters())


def test_groups_keep_model_order_and_cover_each_parameter_once():
    model = Shop()
    groups = param_groups(model, weight_decay=0.1)
    listed = [p for group in groups for p in group["params"]]
    assert len(listed) == len(list(model.parameters())) == len(ids(listed))
    order = {id(p): i for i, p in enumerate(model.parameters())}
    for group in groups:
        positions = [order[id(p)] for p in group["params"]]
        assert positions == sorted(positions)


def test_empty_groups_are_left_out():
    only_weights = nn.Linear(4, 4, bias=False)
    assert [g["name"] for g in param_groups(only_weights, 0.1)] == ["decay"]
    only_norm = nn.LayerNorm(4)
    assert [g["name"] for g in param_groups(only_norm, 0.1)] == ["no_decay"]


def test_frozen_parameters_are_left_out():
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 1))
    model[0].requires_grad_(False)
    listed = ids(p for group in param_groups(model, 0.1) for p in group["params"])
    assert listed == ids(model[1].parameters())


def test_a_weight_tied_to_an_embedding_is_not_decayed():
    embedding = nn.Embedding(10, 4)
    head = nn.Linear(4, 10, bias=False)
    head.weight = embedding.weight
    model = nn.ModuleDict({"embedding": embedding, "head": head})
    groups = by_name(param_groups(model, 0.1))
    assert ids(groups["no_decay"]["params"]) == {id(embedding.weight)}
    assert "decay" not in groups


def test_groups_drive_a_torch_optimizer_with_per_group_decay():
    model = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))
    optimizer = torch.optim.SGD(param_groups(model, 0.5), lr=0.1)
    assert [(g["name"], g["weight_decay"]) for g in optimizer.param_groups] == [("decay", 0.5), ("no_decay", 0.0)]
