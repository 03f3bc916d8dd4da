"""Clipping by global norm treats sparse (embedding) gradients as the dense ones they stand for."""

from __future__ import annotations

import pytest
import torch

from worker.engine.diagnostics import clip_grad_norm


def recommender_gradients(dtype: torch.dtype) -> list[torch.Tensor]:
    """A sparse-gradient embedding (rows looked up several times: uncoalesced) and a dense head."""
    torch.manual_seed(0)
    table = torch.nn.Embedding(30, 4, sparse=True, dtype=dtype)
    head = torch.nn.Linear(4, 1, dtype=dtype)
    users = torch.tensor([3, 7, 3, 3, 12, 7, 29])
    (head(table(users)).squeeze(-1) * torch.arange(1.0, 8.0, dtype=dtype)).sum().backward()
    assert table.weight.grad.is_sparse and not table.weight.grad.is_coalesced()
    return [table.weight, head.weight, head.bias]


def densified(params: list[torch.Tensor]) -> list[torch.Tensor]:
    twins = []
    for p in params:
        twin = p.detach().clone().requires_grad_()
        twin.grad = p.grad.to_dense().clone()
        twins.append(twin)
    return twins


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("max_norm", [0.5, 1e6], ids=["clips", "leaves-alone"])
def test_sparse_and_dense_grads_clip_exactly_like_their_densified_copies(dtype: torch.dtype, max_norm: float) -> None:
    params = recommender_gradients(dtype)
    twins = densified(params)

    norm = clip_grad_norm(params, max_norm)
    expected_norm = float(torch.nn.utils.clip_grad_norm_(twins, max_norm))

    tolerance = {"rtol": 1e-12, "atol": 1e-15} if dtype == torch.float64 else {"rtol": 1e-6, "atol": 1e-9}
    assert norm == pytest.approx(expected_norm, rel=tolerance["rtol"])
    assert norm > 0.5  # so the "clips" case really clips
    assert params[0].grad.is_sparse  # still a sparse gradient for the lazy row update
    for p, twin in zip(params, twins, strict=True):
        torch.testing.assert_close(p.grad.to_dense(), twin.grad, **tolerance)


def test_no_gradients_is_a_norm_of_zero() -> None:
    assert clip_grad_norm([torch.zeros(3, requires_grad=True)], 1.0) == 0.0
