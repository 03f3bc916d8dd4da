"""Recommendation: matrix factorisation with biases, optionally with a neural-CF head.

Index 0 of both embedding tables is the "unknown" user/item: ids first seen at prediction map
there, so a cold user still gets the global mean plus the item's bias.

An implicit-feedback model (ModelShape.seen > 0) also carries, as buffers saved with its
weights, what top-k scoring needs beyond them: each user's training items (`seen_indptr`,
`seen_items`, CSR rows 0..n_users) to exclude, and each item's training interactions
(`item_popularity`) for cold-start users. They are data, not parameters: no optimizer sees them.
"""

from __future__ import annotations

import torch
from torch import nn

from adamant.spec import MatrixFactorizationModel

NCF_PAIRS_PER_BLOCK = 1 << 18  # (user, item) pairs through the neural-CF head at once outside training


class MatrixFactorization(nn.Module):
    def __init__(
        self, spec: MatrixFactorizationModel, n_users: int, n_items: int, mean_rating: float, sparse: bool, seen: int = 0
    ) -> None:
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
        self.implicit = seen > 0
        if self.implicit:
            self.register_buffer("seen_indptr", torch.zeros(n_users + 2, dtype=torch.long))
            self.register_buffer("seen_items", torch.zeros(seen, dtype=torch.long))
            self.register_buffer("item_popularity", torch.zeros(n_items + 1))

    def remember_interactions(self, users: torch.Tensor, items: torch.Tensor) -> None:
        """Fill the implicit model's buffers from the training interactions (index pairs)."""
        n_rows = self.seen_indptr.numel() - 1
        key = users.long() * self.item_embedding.num_embeddings + items.long()
        unique = torch.unique(key)
        rows, cols = unique // self.item_embedding.num_embeddings, unique % self.item_embedding.num_embeddings
        counts = torch.bincount(rows, minlength=n_rows)
        self.seen_indptr.copy_(torch.cat([counts.new_zeros(1), counts.cumsum(0)]))
        if cols.numel() != self.seen_items.numel():
            raise ValueError(f"{cols.numel()} distinct interactions, the model was built for {self.seen_items.numel()}")
        self.seen_items.copy_(cols)
        self.item_popularity.copy_(torch.bincount(items.long(), minlength=self.item_popularity.numel()).float())

    def score_candidates(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(B, n) scores of each of B users against n items: `items` is (n,), shared by every user,
        or (B, n), a row per user. Same score as forward for each pair; the penalty covers the rows gathered."""
        p = self.dropout(self.user_embedding(users))  # (B, d)
        q = self.dropout(self.item_embedding(items))  # (n, d) or (B, n, d)
        if self.head is None and items.dim() == 1:
            score = p @ q.T
        elif self.head is None:
            score = torch.einsum("bd,bnd->bn", p, q)
        elif torch.is_grad_enabled() or p.shape[0] * q.shape[-2] <= NCF_PAIRS_PER_BLOCK:
            score = self._ncf(p, q)
        else:  # evaluation and scoring: a block of users at a time through the head
            rows = max(1, NCF_PAIRS_PER_BLOCK // q.shape[-2])
            score = torch.cat([self._ncf(p[i:i + rows], q if items.dim() == 1 else q[i:i + rows])
                               for i in range(0, p.shape[0], rows)])
        score = score + self.global_bias
        penalty = (p * p).sum(-1).mean() + (q * q).sum(-1).mean()
        if self.use_biases:
            bu = self.user_bias(users)  # (B, 1)
            bi = self.item_bias(items).squeeze(-1)  # (n,) or (B, n)
            score = score + bu + bi
            penalty = penalty + (bu * bu).mean() + (bi * bi).mean()
        self.penalty = self.regularization * penalty if self.training and self.regularization > 0 else None
        return score

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


    def _ncf(self, p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """The neural-CF score of users p (B, d) against items q, (n, d) shared or (B, n, d)."""
        q_rows = q.expand(p.shape[0], *q.shape) if q.dim() == 2 else q
        p_rows = p.unsqueeze(1).expand(-1, q_rows.shape[1], -1)
        deep = self.head(torch.cat([p_rows, q_rows], dim=-1))
        return self.combine(torch.cat([p_rows * q_rows, deep], dim=-1)).squeeze(-1)


def build_matrix_factorization(
    spec: MatrixFactorizationModel, n_users: int, n_items: int, mean_rating: float, sparse: bool, seen: int = 0
) -> nn.Module:
    return MatrixFactorization(spec, n_users, n_items, mean_rating, sparse, seen)
