"""Optimizers that keep sparse state (SGD's momentum under sparse gradients) still checkpoint:
a comparison's SGD runs on movielens failed at their first checkpoint before."""

from __future__ import annotations

import torch

from worker.engine.checkpoints import flatten_optimizer_state, unflatten_optimizer_state


def test_a_sparse_momentum_buffer_is_saved_dense_and_resumes_the_same() -> None:
    table = torch.nn.Embedding(50, 4, sparse=True)
    optimizer = torch.optim.SGD(table.parameters(), lr=0.1, momentum=0.9)
    for ids in ([1, 2, 3], [3, 4]):
        optimizer.zero_grad()
        table(torch.tensor(ids)).sum().backward()
        optimizer.step()
    buffer = optimizer.state_dict()["state"][0]["momentum_buffer"]
    assert buffer.is_sparse

    tensors, meta = flatten_optimizer_state(optimizer.state_dict())
    restored = unflatten_optimizer_state(tensors, meta)
    assert torch.equal(restored["state"][0]["momentum_buffer"], buffer.to_dense())
