"""The lazy row update: sparse embedding gradients move only the rows they touch."""

from __future__ import annotations

import io
import math

import pytest
import torch

from worker.adam import Adam

IMPLEMENTATIONS = ("reference", "multi_tensor", "fused", "auto")
FLAGS = [
    {},
    {"weight_decay": 0.1},
    {"weight_decay": 0.1, "decoupled_weight_decay": True},
    {"amsgrad": True},
    {"amsgrad": True, "weight_decay": 0.1, "maximize": True},
]


@pytest.fixture(autouse=True)
def one_thread():
    """Run each test on one intra-op thread.

    Elementwise results do not depend on the thread count, but on a shared, busy machine
    every OpenMP region (the fused kernel opens one per tensor) can wait a scheduler tick
    for its second thread: the parity tests took 90 s instead of 10 s that way.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def embedding_pair(rows: int, dim: int, dtype=torch.float32):
    """A sparse-gradient embedding and a dense-gradient twin with the same weights."""
    torch.manual_seed(0)
    sparse = torch.nn.Embedding(rows, dim, sparse=True, dtype=dtype)
    dense = torch.nn.Embedding(rows, dim, sparse=False, dtype=dtype)
    dense.weight.data.copy_(sparse.weight.data)
    return sparse, dense


def step_on(embedding, optimizer, ids, weights):
    optimizer.zero_grad()
    (embedding(ids) * weights).sum().backward()
    optimizer.step()


@pytest.mark.parametrize("flags", FLAGS, ids=["plain", "l2", "decoupled", "amsgrad", "amsgrad-l2-maximize"])
def test_rows_touched_every_step_follow_dense_adam(flags):
    sparse, dense = embedding_pair(30, 4)
    lazy_opt = Adam(sparse.parameters(), lr=1e-2, **flags)
    dense_opt = torch.optim.Adam(dense.parameters(), lr=1e-2, foreach=False, **flags)
    gen = torch.Generator().manual_seed(1)
    for _ in range(150):
        ids = torch.randperm(30, generator=gen).repeat(2)  # every row, twice: duplicates are summed
        weights = torch.randn(60, 4, generator=gen)
        step_on(sparse, lazy_opt, ids, weights)
        step_on(dense, dense_opt, ids, weights)

    error = (sparse.weight - dense.weight).norm() / dense.weight.norm()
    assert error.item() <= 1e-6
    state = lazy_opt.state[sparse.weight]
    assert state["row_step"].dtype == torch.int64 and bool((state["row_step"] == 150).all())
    for key in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if flags.get("amsgrad") else ()):
        expected = dense_opt.state[dense.weight][key]
        assert ((state[key] - expected).norm() / expected.norm()).item() <= 1e-6


@pytest.mark.parametrize("flags", FLAGS, ids=["plain", "l2", "decoupled", "amsgrad", "amsgrad-l2-maximize"])
def test_rows_never_touched_keep_their_values_and_zero_state(flags):
    sparse, _ = embedding_pair(40, 3)
    initial = sparse.weight.detach().clone()
    optimizer = Adam(sparse.parameters(), lr=1e-1, **flags)
    gen = torch.Generator().manual_seed(2)
    for _ in range(20):
        ids = torch.randint(0, 20, (16,), generator=gen)  # rows 20..39 never looked up
        step_on(sparse, optimizer, ids, torch.randn(16, 3, generator=gen))

    assert torch.equal(sparse.weight[20:], initial[20:])
    assert not torch.equal(sparse.weight[:20], initial[:20])
    state = optimizer.state[sparse.weight]
    for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "row_step"):
        if key in state:
            assert not state[key][20:].any(), key


def test_a_row_seen_at_steps_1_and_5_is_bias_corrected_as_its_second_step():
    beta1, beta2, lr, eps = 0.9, 0.999, 0.1, 1e-8
    sparse, _ = embedding_pair(10, 2, dtype=torch.float64)
    theta0 = sparse.weight[7].detach().clone()
    optimizer = Adam(sparse.parameters(), lr=lr, betas=(beta1, beta2), eps=eps)
    g1 = torch.tensor([0.3, -2.0], dtype=torch.float64)
    g5 = torch.tensor([-0.7, 0.5], dtype=torch.float64)

    after_step_1 = None
    for step in range(1, 6):
        touches_7 = step in (1, 5)
        ids = torch.tensor([0, 7] if touches_7 else [0])
        weights = torch.stack([torch.ones(2, dtype=torch.float64), g1 if step == 1 else g5])[: len(ids)]
        step_on(sparse, optimizer, ids, weights)
        if step == 1:
            after_step_1 = sparse.weight[7].detach().clone()
        elif step < 5:
            assert torch.equal(sparse.weight[7], after_step_1)  # untouched in between

    m1, v1 = (1 - beta1) * g1, (1 - beta2) * g1**2
    theta1 = theta0 - lr * (m1 / (1 - beta1)) / ((v1 / (1 - beta2)).sqrt() + eps)
    m2, v2 = beta1 * m1 + (1 - beta1) * g5, beta2 * v1 + (1 - beta2) * g5**2
    theta2 = theta1 - lr * (m2 / (1 - beta1**2)) / ((v2 / (1 - beta2**2)).sqrt() + eps)
    torch.testing.assert_close(sparse.weight[7].detach(), theta2, rtol=1e-12, atol=1e-14)

    # Corrected as global step 5 instead, the row would land measurably elsewhere.
    as_step_5 = theta1 - lr * (m2 / (1 - beta1**5)) / ((v2 / (1 - beta2**5)).sqrt() + eps)
    assert (as_step_5 - theta2).abs().max().item() > 1e-3
    row_step = optimizer.state[sparse.weight]["row_step"]
    assert row_step[7].item() == 2 and row_step[0].item() == 5
    assert optimizer.state[sparse.weight]["step"].item() == 5


@pytest.mark.parametrize("decoupled", [False, True], ids=["l2", "decoupled"])
def test_weight_decay_reaches_touched_rows_only(decoupled):
    sparse, _ = embedding_pair(8, 3)
    initial = sparse.weight.detach().clone()
    optimizer = Adam(sparse.parameters(), lr=0.1, weight_decay=0.5, decoupled_weight_decay=decoupled)
    ids = torch.tensor([1, 2])
    for _ in range(5):
        # A zero gradient on the touched rows: only the decay can move them.
        step_on(sparse, optimizer, ids, torch.zeros(2, 3))

    untouched = [0, 3, 4, 5, 6, 7]
    assert torch.equal(sparse.weight[untouched], initial[untouched])
    shrunk = sparse.weight[1:3].abs() < initial[1:3].abs()
    assert bool(shrunk.all())
    if decoupled:
        torch.testing.assert_close(sparse.weight[1:3].detach(), initial[1:3] * (1 - 0.1 * 0.5) ** 5)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_sparse_grads_go_to_the_lazy_path_whatever_the_implementation(implementation):
    torch.manual_seed(0)
    embedding = torch.nn.Embedding(20, 4, sparse=True)
    head = torch.nn.Linear(4, 1)
    twin_head = torch.nn.Linear(4, 1)
    twin_head.load_state_dict(head.state_dict())
    # One group mixing a sparse-gradient table with dense layers.
    params = [*embedding.parameters(), *head.parameters()]
    optimizer = Adam(params, lr=1e-2, amsgrad=True, implementation=implementation)
    dense_only = torch.optim.Adam(twin_head.parameters(), lr=1e-2, amsgrad=True, foreach=False)
    gen = torch.Generator().manual_seed(3)
    for _ in range(10):
        ids = torch.randint(0, 20, (8,), generator=gen)
        features = embedding(ids)
        optimizer.zero_grad()
        head(features).sum().backward()
        dense_only.zero_grad()
        twin_head(features.detach()).sum().backward()
        optimizer.step()
        dense_only.step()
    assert embedding.weight.grad.is_sparse
    assert "row_step" in optimizer.state[embedding.weight]
    for ours, theirs in zip(head.parameters(), twin_head.parameters(), strict=True):
        assert ((ours - theirs).norm() / theirs.norm()).item() <= 1e-6


def test_amsgrad_keeps_a_row_wise_running_maximum():
    sparse, _ = embedding_pair(6, 2)
    optimizer = Adam(sparse.parameters(), lr=1e-2, amsgrad=True)
    step_on(sparse, optimizer, torch.tensor([2]), torch.tensor([[5.0, 5.0]]))
    for _ in range(3):
        step_on(sparse, optimizer, torch.tensor([2]), torch.tensor([[0.1, 0.1]]))
    state = optimizer.state[sparse.weight]
    assert bool((state["max_exp_avg_sq"][2] > state["exp_avg_sq"][2]).all())
    torch.testing.assert_close(state["max_exp_avg_sq"][2], torch.full((2,), (1 - 0.999) * 25.0))
    assert not state["max_exp_avg_sq"][[0, 1, 3, 4, 5]].any()


def test_a_dense_grad_after_sparse_ones_updates_every_row_with_its_own_count():
    sparse, _ = embedding_pair(4, 2, dtype=torch.float64)
    optimizer = Adam(sparse.parameters(), lr=0.1)
    step_on(sparse, optimizer, torch.tensor([0]), torch.ones(1, 2, dtype=torch.float64))
    before = sparse.weight.detach().clone()
    sparse.weight.grad = torch.ones(4, 2, dtype=torch.float64)  # dense, e.g. from a regulariser
    optimizer.step()
    state = optimizer.state[sparse.weight]
    assert state["row_step"].tolist() == [2, 1, 1, 1]
    # Row 1 takes its first Adam step: θ moves by lr·g/(|g|+ε) ≈ lr.
    assert sparse.weight[1, 0].item() == pytest.approx(before[1, 0].item() - 0.1, rel=1e-6)


def test_row_steps_survive_a_checkpoint_as_exact_integers():
    sparse, _ = embedding_pair(12, 3, dtype=torch.bfloat16)
    optimizer = Adam(sparse.parameters(), lr=1e-2)
    for _ in range(300):  # past 256, where a bf16 count could no longer add 1
        step_on(sparse, optimizer, torch.tensor([3, 4]), torch.ones(2, 3, dtype=torch.bfloat16))
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    buffer.seek(0)

    resumed = Adam(sparse.parameters(), lr=1e-2)
    resumed.load_state_dict(torch.load(buffer, map_location="cpu", weights_only=True))
    row_step = resumed.state[sparse.weight]["row_step"]
    assert row_step.dtype == torch.int64
    assert row_step[3].item() == 300 and row_step[0].item() == 0
    step_on(sparse, resumed, torch.tensor([3]), torch.ones(1, 3, dtype=torch.bfloat16))
    assert resumed.state[sparse.weight]["row_step"][3].item() == 301


def test_resumed_lazy_run_equals_the_uninterrupted_one_bit_for_bit():
    def run(stop_at=None, checkpoint=None):
        sparse, _ = embedding_pair(25, 4)
        optimizer = Adam(sparse.parameters(), lr=1e-2, weight_decay=0.05, amsgrad=True)
        start = 0
        if checkpoint is not None:
            sparse.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            start = checkpoint["k"]
        for k in range(start, 30 if stop_at is None else stop_at):
            gen = torch.Generator().manual_seed(k)
            step_on(sparse, optimizer, torch.randint(0, 25, (6,), generator=gen), torch.randn(6, 4, generator=gen))
        return sparse, optimizer

    uninterrupted, _ = run()
    half, half_opt = run(stop_at=11)
    checkpoint = {"model": half.state_dict(), "optimizer": half_opt.state_dict(), "k": 11}
    resumed, _ = run(checkpoint=checkpoint)
    assert torch.equal(resumed.weight, uninterrupted.weight)


def test_lazy_update_differs_from_sparse_adam_on_rarely_touched_rows():
    # SparseAdam corrects every row with the tensor's step count and puts ε before the
    # correction; on a row seen once after 50 steps the two disagree, as documented.
    sparse, _ = embedding_pair(5, 2)
    initial = sparse.weight.detach().clone()
    twin = torch.nn.Embedding(5, 2, sparse=True)
    twin.weight.data.copy_(initial)
    ours = Adam(sparse.parameters(), lr=0.1)
    theirs = torch.optim.SparseAdam(twin.parameters(), lr=0.1)
    for k in range(50):
        ids = torch.tensor([0, 4] if k == 49 else [0])
        weights = torch.ones(len(ids), 2)
        step_on(sparse, ours, ids, weights)
        step_on(twin, theirs, ids, weights)
    torch.testing.assert_close(sparse.weight[0], twin.weight[0], rtol=1e-5, atol=1e-6)  # every step: alike
    # Row 4's first step: ours moves it by lr (m̂/√v̂ = 1); SparseAdam by lr·√(1−β2^50)/(1−β1^50)·(1−β1)/√(1−β2).
    moved = (sparse.weight[4] - twin.weight[4]).abs().max().item()
    assert moved > 1e-2
    assert math.isclose((initial[4] - sparse.weight[4]).abs().max().item(), 0.1, rel_tol=1e-4)


def test_a_gradient_sparse_in_two_dims_updates_its_entries_like_dense_adam():
    torch.manual_seed(0)
    initial = torch.randn(4, 3, 2)
    lazy_param = initial.clone().requires_grad_()
    dense_param = initial.clone().requires_grad_()
    lazy_opt = Adam([lazy_param], lr=1e-2)
    dense_opt = torch.optim.Adam([dense_param], lr=1e-2, foreach=False)
    gen = torch.Generator().manual_seed(4)
    every_pair = torch.cartesian_prod(torch.arange(4), torch.arange(3)).T  # all (i, j), sparse over 2 dims
    for _ in range(50):
        values = torch.randn(12, 2, generator=gen)
        lazy_param.grad = torch.sparse_coo_tensor(every_pair, values, (4, 3, 2), check_invariants=True)
        dense_param.grad = lazy_param.grad.to_dense()
        lazy_opt.step()
        dense_opt.step()
    assert ((lazy_param - dense_param).norm() / dense_param.norm()).item() <= 1e-6
    assert lazy_opt.state[lazy_param]["row_step"].shape == (12,)
