"""Recommendation: matrix factorisation with biases, optionally with a neural-CF head.

Index 0 of both embedding tables is the "unknown" user/item: ids first seen at prediction map
there, so a cold user still gets the global mean plus the item's bias.
"""

from __future__ import annotations

import torch
from torch import nn

from adamant.spec import MatrixFactorizationModel


class MatrixFactorization(nn.Module):
    def __init__(self, spec: MatrixFactorizationModel, n_users: int, n_items: int, mean_rating: float, sparse: bool) -> None:
        super().__init__()
        dim = spec.embedding_dim
        self.user_embedding = nn.Embedding(n_users + 1, dim, sparse=sparse)
        self.item_embedding = nn.Embedding(n_items + 1, dim, sparse=sparse)
        nn.init.normal_(self.user_embedding.weight, std=0.01)
        nn.init.normal_(self.item_embedding.weight, std=0.01)
        self.use_biases = spec.biases
        if spec.biases:
            self.user_bias = nn.Embedding(n_users + 1, 1, sparse=sparse)
            self.item_bias = nn.Embedding(n_items + 1, 1, sparse=sparse)
            nn.init.zeros_(self.user_bias.weight)
            nn.init.zeros_(self.item_bias.weight)
        self.global_bias = nn.Parameter(torch.tensor(float(mean_rating)))
        self.dropout = nn.Dropout(spec.dropout) if spec.dropout > 0 else nn.Identity()
        self.head: nn.Module | None = None
        if spec.ncf_hidden:
            layers: list[nn.Module] = []
            width = 2 * dim
            for hidden in spec.ncf_hidden:
                layers += [nn.Linear(width, hidden), nn.ReLU()]
                width = hidden
            self.head = nn.Sequential(*layers)
            self.combine = nn.Linear(dim + width, 1)
        self.regularization = spec.regularization
        # Set by forward in training mode; the engine adds it to the loss. Kept on the module
        # because the penalty needs the rows the batch gathered, which only forward sees.
        self.penalty: torch.Tensor | None = None

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        p = self.user_embedding(users)
        q = self.item_embedding(items)
        interaction = self.dropout(p) * self.dropout(q)
        if self.head is None:
            score = interaction.sum(-1)
        else:
            deep = self.head(torch.cat([p, q], dim=-1))
            score = self.combine(torch.cat([interaction, deep], dim=-1)).squeeze(-1)
        score = score + self.global_bias
        penalty = (p * p).sum(-1) + (q * q).sum(-1)
        if self.use_biases:
            bu = self.user_bias(users).squeeze(-1)
            bi = self.item_bias(items).squeeze(-1)
            score = score + bu + bi
            penalty = penalty + bu * bu + bi * bi
        self.penalty = self.regularization * penalty.mean() if self.training and self.regularization > 0 else None
        return score


def build_matrix_factorization(
    spec: MatrixFactorizationModel, n_users: int, n_items: int, mean_rating: float, sparse: bool
) -> nn.Module:
    return MatrixFactorization(spec, n_users, n_items, mean_rating, sparse)
