"""Our Adam against torch's and against the update rule written out in float64.

The reference and multi_tensor paths are our own code and must equal torch's for-loop and
foreach kernels bit for bit. The fused path *calls* torch's fused kernel, so comparing it with
torch's fused Adam would compare the kernel with itself: it is held to the float64 transcription
of the formulas instead, as is every other path. Speed is measured by bench/adam_step.py, not here.
"""

from __future__ import annotations

import functools
import io
import itertools
import math

import numpy as np
import pytest
import torch

from worker.adam import Adam

IMPLEMENTATIONS = ("reference", "multi_tensor", "fused", "auto")
PATHS = ("reference", "multi_tensor", "fused")  # on the CPU "auto" is "fused"; tested on its own below
# The torch kernel each of our paths runs op for op.
TORCH_KERNEL = {
    "reference": (("foreach", False),),
    "multi_tensor": (("foreach", True),),
    "fused": (("fused", True),),
    "auto": (("fused", True),),
}
FOR_LOOP = TORCH_KERNEL["reference"]
# Every decay mode × AMSGrad, and maximize with three of them (plain, L2, decoupled + AMSGrad).
FLAGS = [
    {"weight_decay": wd, "decoupled_weight_decay": decoupled, "amsgrad": amsgrad, "maximize": maximize}
    for (wd, decoupled), amsgrad, maximize in itertools.product(
        ((0.0, False), (0.1, False), (0.1, True)), (False, True), (False, True)
    )
    if not maximize or (amsgrad == decoupled)
]
STATE_KEYS = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
PARITY_STEPS = 500


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


def kernel(implementation: str) -> dict:
    """torch's keyword arguments for the kernel our ``implementation`` mirrors."""
    return dict(TORCH_KERNEL[implementation])


def flags_id(flags: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in flags.items())


class QuadraticProblem:
    """A few tensors of mixed shapes pulled toward fixed targets, with fixed per-step noise.

    The gradient at step k depends only on θ and k, so two optimizers fed the same θ get the
    same gradient, and a resumed run sees the gradients the uninterrupted one saw.
    """

    shapes = ((7, 5), (13,), (3, 4, 2), (1,))

    def __init__(self, steps: int, dtype: torch.dtype = torch.float32, maximize: bool = False) -> None:
        gen = torch.Generator().manual_seed(0)
        self.initial = [torch.randn(s, generator=gen, dtype=dtype) for s in self.shapes]
        self.targets = [torch.randn(s, generator=gen, dtype=dtype) for s in self.shapes]
        self.curvature = [torch.rand(s, generator=gen, dtype=dtype) * 3 + 0.1 for s in self.shapes]
        self.noise = [torch.randn((steps, *s), generator=gen, dtype=dtype) * 0.3 for s in self.shapes]
        # With maximize the optimizer ascends, so hand it the gradient of the negated loss.
        self.sign = -1.0 if maximize else 1.0

    def params(self) -> list[torch.Tensor]:
        return [x.clone().requires_grad_() for x in self.initial]

    def set_grads(self, params: list[torch.Tensor], k: int) -> None:
        for p, target, c, noise in zip(params, self.targets, self.curvature, self.noise, strict=True):
            # Cast to each parameter's dtype and device, so the problem can follow a moved run.
            p.grad = self.sign * (c.to(p) * (p.detach() - target.to(p)) + noise[k].to(p))

    def run(self, params: list[torch.Tensor], optimizer: torch.optim.Optimizer, start: int, stop: int) -> None:
        for k in range(start, stop):
            self.set_grads(params, k)
            optimizer.step()


def torch_adam(params, flags, lr, **kernel):
    """torch's optimizer for these flags: AdamW for decoupled decay, Adam otherwise."""
    flags = dict(flags)
    if flags.pop("decoupled_weight_decay", False):
        return torch.optim.AdamW(params, lr=lr, **flags, **kernel)
    return torch.optim.Adam(params, lr=lr, **flags, **kernel)


def trained(make_optimizer, problem: QuadraticProblem, steps: int):
    params = problem.params()
    optimizer = make_optimizer(params)
    problem.run(params, optimizer, 0, steps)
    return params, optimizer


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual.double() - expected.double()).norm() / expected.double().norm().clamp_min(1e-30)).item()


def states(params, optimizer):
    return [{key: optimizer.state[p][key] for key in STATE_KEYS if key in optimizer.state[p]} for p in params]


@functools.cache
def parity_run(optimizer: str, kernel: tuple, flags_items: tuple):
    """Params and state after PARITY_STEPS steps; cached so each run is done once per session."""
    flags = dict(flags_items)
    problem = QuadraticProblem(steps=PARITY_STEPS, maximize=flags["maximize"])
    if optimizer == "ours":
        make = lambda ps: Adam(ps, lr=1e-2, implementation=kernel, **flags)  # noqa: E731
    else:
        make = lambda ps: torch_adam(ps, flags, 1e-2, **dict(kernel))  # noqa: E731
    params, opt = trained(make, problem, PARITY_STEPS)
    return [p.detach().clone() for p in params], states(params, opt)


@pytest.mark.parametrize("implementation", ("reference", "multi_tensor"))
@pytest.mark.parametrize("flags", FLAGS, ids=flags_id)
def test_our_own_paths_equal_the_torch_kernel_they_transcribe_bit_for_bit(implementation, flags):
    ours, ours_state = parity_run("ours", implementation, tuple(flags.items()))
    theirs, theirs_state = parity_run("torch", TORCH_KERNEL[implementation], tuple(flags.items()))

    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b in zip(ours_state, theirs_state, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


@pytest.mark.parametrize("implementation", PATHS)
@pytest.mark.parametrize("flags", FLAGS, ids=flags_id)
def test_each_path_matches_torch_for_loop_adam_within_1e_6_after_500_steps(implementation, flags):
    ours, ours_state = parity_run("ours", implementation, tuple(flags.items()))
    theirs, theirs_state = parity_run("torch", FOR_LOOP, tuple(flags.items()))

    for a, b in zip(ours, theirs, strict=True):
        assert relative_error(a, b) <= 1e-6
    for a, b in zip(ours_state, theirs_state, strict=True):
        for key in a:
            assert relative_error(a[key], b[key]) <= 1e-6, key


def test_auto_runs_the_fused_kernel_on_the_cpu():
    problem = QuadraticProblem(steps=50)
    flags = {"weight_decay": 0.1, "amsgrad": True}
    ours, _ = trained(lambda ps: Adam(ps, lr=1e-2, implementation="auto", **flags), problem, 50)
    theirs, _ = trained(lambda ps: torch.optim.Adam(ps, lr=1e-2, fused=True, **flags), problem, 50)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_decoupled_decay_matches_torch_adam_with_its_decoupled_flag(implementation):
    problem = QuadraticProblem(steps=100)
    flags = {"weight_decay": 0.3, "decoupled_weight_decay": True}
    ours, _ = trained(lambda ps: Adam(ps, lr=1e-2, implementation=implementation, **flags), problem, 100)
    theirs, _ = trained(lambda ps: torch.optim.Adam(ps, lr=1e-2, **flags, **kernel(implementation)), problem, 100)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def adam_float64(
    problem: QuadraticProblem, steps, lr, beta1, beta2, eps, weight_decay=0.0, decoupled=False, amsgrad=False,
    maximize=False,
):
    """The update rule as written in the design, in float64 numpy, one line per formula."""
    thetas = [x.numpy().astype(np.float64) for x in problem.initial]
    ms = [np.zeros_like(t) for t in thetas]
    vs = [np.zeros_like(t) for t in thetas]
    v_maxes = [np.zeros_like(t) for t in thetas]
    for k in range(steps):
        t = k + 1
        for i, theta in enumerate(thetas):
            g = problem.sign * (
                problem.curvature[i].numpy() * (theta - problem.targets[i].numpy()) + problem.noise[i][k].numpy()
            )
            if maximize:
                g = -g  # ascend: the rule runs on the negated gradient
            if weight_decay and decoupled:
                theta = theta * (1 - lr * weight_decay)
            elif weight_decay:
                g = g + weight_decay * theta
            ms[i] = beta1 * ms[i] + (1 - beta1) * g
            vs[i] = beta2 * vs[i] + (1 - beta2) * g**2
            v_maxes[i] = np.maximum(v_maxes[i], vs[i])
            m_hat = ms[i] / (1 - beta1**t)
            v_hat = (v_maxes[i] if amsgrad else vs[i]) / (1 - beta2**t)
            thetas[i] = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return thetas


def written_out(problem: QuadraticProblem, steps: int, flags: dict, lr: float = 3e-2, **hyper) -> list[np.ndarray]:
    """adam_float64 for keyword arguments spelled as Adam takes them."""
    beta1, beta2 = hyper.get("betas", (0.8, 0.95))
    return adam_float64(
        problem,
        steps,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        eps=hyper.get("eps", 1e-6),
        weight_decay=flags.get("weight_decay", 0.0),
        decoupled=flags.get("decoupled_weight_decay", False),
        amsgrad=flags.get("amsgrad", False),
        maximize=flags.get("maximize", False),
    )


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("flags", FLAGS, ids=flags_id)
def test_float64_params_follow_the_written_out_update_rule(implementation, flags):
    problem = QuadraticProblem(steps=200, dtype=torch.float64, maximize=flags["maximize"])
    hyper = {"lr": 3e-2, "betas": (0.8, 0.95), "eps": 1e-6}
    ours, _ = trained(lambda ps: Adam(ps, **hyper, implementation=implementation, **flags), problem, 200)
    for a, b in zip(ours, written_out(problem, 200, flags, **hyper), strict=True):
        np.testing.assert_allclose(a.detach().numpy(), b, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("implementation", ("fused", "auto"))
@pytest.mark.parametrize("flags", FLAGS, ids=flags_id)
def test_fused_float32_steps_stay_within_rounding_of_the_written_out_rule(implementation, flags):
    # float32 rounding after 500 steps stays near 1e-6 of the float64 rule; a wrong moment,
    # bias correction, decay or sign is off by far more.
    problem = QuadraticProblem(steps=PARITY_STEPS, maximize=flags["maximize"])
    ours, _ = trained(lambda ps: Adam(ps, lr=1e-2, implementation=implementation, **flags), problem, PARITY_STEPS)
    hyper = {"lr": 1e-2, "betas": (0.9, 0.999), "eps": 1e-8}
    for a, b in zip(ours, written_out(problem, PARITY_STEPS, flags, **hyper), strict=True):
        assert relative_error(a.detach(), torch.from_numpy(b)) <= 1e-5


# --- The traps users report, one test each. ---


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_eps_is_added_outside_the_square_root_after_bias_correction(implementation):
    # At step 1, m̂ = g and √v̂ = |g|, so with g = ε the update is lr·g/(|g| + ε) = lr/2.
    # ε inside the root would give ~lr·1e-4, and TF's "epsilon hat" (ε added before the bias
    # correction) lr·|g|/(|g| + ε/√(1−β2)) ≈ lr·0.031.
    theta = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = Adam([theta], lr=1.0, eps=1e-8, implementation=implementation)
    theta.grad = torch.full((1,), 1e-8, dtype=torch.float64)
    optimizer.step()
    assert theta.item() == pytest.approx(-0.5, rel=1e-12)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("lr", [0.1, 0.02])
def test_decoupled_decay_shrinks_theta_by_lr_times_lambda_per_step(implementation, lr):
    # With zero gradients from the start, m and v stay 0, so the Adam term is 0 and only the
    # decay moves θ: θ_t = θ_0·(1 − lr·λ)^t. Unscaled decay would give θ_0·(1 − λ)^t.
    theta = torch.full((4,), 2.0, dtype=torch.float64, requires_grad=True)
    optimizer = Adam([theta], lr=lr, weight_decay=0.5, decoupled_weight_decay=True, implementation=implementation)
    for _ in range(10):
        theta.grad = torch.zeros_like(theta)
        optimizer.step()
    torch.testing.assert_close(theta.detach(), torch.full((4,), 2.0 * (1 - lr * 0.5) ** 10, dtype=torch.float64))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_amsgrad_keeps_the_maximum_of_the_raw_second_moment(implementation):
    # β2 = 0.5 makes the two orders differ a lot. Step 1, g=1: v1 = 0.5 (v̂1 = 1).
    # Step 2, g=0: v2 = 0.25. Raw maximum: 0.5, corrected by 1−β2² = 0.75 → v̂ = 2/3.
    # The maximum of corrected values would be max(1, 1/3) = 1.
    beta1, beta2, lr, eps = 0.9, 0.5, 1.0, 1e-8
    theta = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = Adam([theta], lr=lr, betas=(beta1, beta2), eps=eps, amsgrad=True, implementation=implementation)
    theta.grad = torch.ones(1, dtype=torch.float64)
    optimizer.step()
    theta.grad = torch.zeros(1, dtype=torch.float64)
    optimizer.step()

    m1, m2 = (1 - beta1), beta1 * (1 - beta1)
    theta1 = -lr * (m1 / (1 - beta1)) / (math.sqrt(0.5 / (1 - beta2)) + eps)
    theta2 = theta1 - lr * (m2 / (1 - beta1**2)) / (math.sqrt(0.5 / (1 - beta2**2)) + eps)
    corrected_max_theta2 = theta1 - lr * (m2 / (1 - beta1**2)) / (math.sqrt(1.0) + eps)
    assert optimizer.state[theta]["max_exp_avg_sq"].item() == pytest.approx(0.5, rel=1e-15)
    assert theta.item() == pytest.approx(theta2, rel=1e-12)
    assert abs(theta2 - corrected_max_theta2) > 1e-2  # the two orders are far apart here


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_step_count_survives_a_state_dict_round_trip(implementation):
    problem = QuadraticProblem(steps=40)
    uninterrupted, _ = trained(lambda ps: Adam(ps, lr=1e-2, implementation=implementation), problem, 40)

    params = problem.params()
    first = Adam(params, lr=1e-2, implementation=implementation)
    problem.run(params, first, 0, 15)
    saved = first.state_dict()

    resumed_params = [p.detach().clone().requires_grad_() for p in params]
    resumed = Adam(resumed_params, lr=1e-2, implementation=implementation)
    resumed.load_state_dict(saved)
    for p in resumed_params:
        step = resumed.state[p]["step"]
        assert step.dtype == torch.float32 and step.device.type == "cpu" and step.item() == 15
    problem.run(resumed_params, resumed, 15, 40)

    for a, b in zip(resumed_params, uninterrupted, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def recommender_like_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.ModuleDict(
        {
            "users": torch.nn.Embedding(50, 8, sparse=True),
            "head": torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.Linear(16, 1)),
        }
    )


def train_recommender(model, optimizer, start: int, stop: int) -> None:
    for k in range(start, stop):
        gen = torch.Generator().manual_seed(k)
        users = torch.randint(0, 50, (32,), generator=gen)
        target = torch.randn(32, 1, generator=gen)
        optimizer.zero_grad()
        loss = ((model["head"](model["users"](users)) - target) ** 2).mean()
        loss.backward()
        optimizer.step()


def make_recommender_optimizer(model, implementation):
    from worker.adam import param_groups

    return Adam(param_groups(model, 0.01), lr=1e-2, amsgrad=True, implementation=implementation)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_resumed_run_through_torch_save_equals_the_uninterrupted_one_bit_for_bit(implementation):
    model = recommender_like_model()
    optimizer = make_recommender_optimizer(model, implementation)
    train_recommender(model, optimizer, 0, 30)
    uninterrupted = {k: v.clone() for k, v in model.state_dict().items()}

    model = recommender_like_model()
    optimizer = make_recommender_optimizer(model, implementation)
    train_recommender(model, optimizer, 0, 12)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, buffer)

    buffer.seek(0)
    checkpoint = torch.load(buffer, map_location="cpu", weights_only=True)
    resumed_model = recommender_like_model()
    resumed_model.load_state_dict(checkpoint["model"])
    resumed = make_recommender_optimizer(resumed_model, implementation)
    resumed.load_state_dict(checkpoint["optimizer"])
    train_recommender(resumed_model, resumed, 12, 30)

    for name, value in resumed_model.state_dict().items():
        torch.testing.assert_close(value, uninterrupted[name], rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_state_saved_in_float32_loads_onto_float64_params_and_keeps_training(implementation):
    problem = QuadraticProblem(steps=30)
    params = problem.params()
    optimizer = Adam(params, lr=1e-2, amsgrad=True, implementation=implementation)
    problem.run(params, optimizer, 0, 10)
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    buffer.seek(0)

    wide = [p.detach().double().requires_grad_() for p in params]
    resumed = Adam(wide, lr=1e-2, amsgrad=True, implementation=implementation)
    resumed.load_state_dict(torch.load(buffer, map_location="cpu", weights_only=True))
    for p, old in zip(wide, params, strict=True):
        state = resumed.state[p]
        assert state["exp_avg"].dtype == torch.float64
        assert state["step"].dtype == torch.float32 and state["step"].item() == 10
        torch.testing.assert_close(state["exp_avg_sq"], optimizer.state[old]["exp_avg_sq"].double())

    problem.run(wide, resumed, 10, 30)
    problem.run(params, optimizer, 10, 30)
    for a, b in zip(wide, params, strict=True):
        assert relative_error(a.detach(), b.detach()) < 1e-5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; this machine has none")
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_state_saved_on_cpu_resumes_on_cuda(implementation):
    problem = QuadraticProblem(steps=30)
    params = problem.params()
    optimizer = Adam(params, lr=1e-2, implementation=implementation)
    problem.run(params, optimizer, 0, 10)
    # Through bytes, as a checkpoint would: a live state_dict() shares its CPU tensors (the
    # non-fused `step` stays on the CPU), so both optimizers would advance one step counter.
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    on_cuda = [p.detach().cuda().requires_grad_() for p in params]
    resumed = Adam(on_cuda, lr=1e-2, implementation=implementation)
    resumed.load_state_dict(saved)
    fused = implementation in ("fused", "auto")
    for p in on_cuda:
        assert resumed.state[p]["exp_avg"].is_cuda
        assert resumed.state[p]["step"].is_cuda == fused  # the fused kernel reads it on the device
    problem.run(on_cuda, resumed, 10, 30)
    problem.run(params, optimizer, 10, 30)
    for a, b in zip(on_cuda, params, strict=True):
        # CUDA's kernels round differently from the CPU's: a fresh run drifts ~5e-6 in 30 steps
        # (measured on an H200), so 1e-4 catches a wrong step or bias correction, not rounding.
        error = relative_error(a.detach().cpu(), b.detach())
        assert error < 1e-4, f"CUDA run differs from the CPU run by {error:.2e} (shape {tuple(a.shape)})"


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_state_dict_interchanges_with_torch_adam(implementation):
    problem = QuadraticProblem(steps=30)
    uninterrupted, _ = trained(lambda ps: torch.optim.Adam(ps, lr=1e-2, **kernel(implementation)), problem, 30)

    params = problem.params()
    theirs = torch.optim.Adam(params, lr=1e-2, **kernel(implementation))
    problem.run(params, theirs, 0, 10)
    ours = Adam(params, lr=1e-2, implementation=implementation)
    ours.load_state_dict(theirs.state_dict())
    problem.run(params, ours, 10, 20)
    theirs = torch.optim.Adam(params, lr=1e-2, **kernel(implementation))
    theirs.load_state_dict(ours.state_dict())
    problem.run(params, theirs, 20, 30)

    for a, b in zip(params, uninterrupted, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# --- Gradients that come and go, mixed buckets, complex params. ---


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_params_whose_grads_appear_and_disappear_are_skipped_like_torch(implementation):
    problem = QuadraticProblem(steps=60)

    def run(make_optimizer):
        params = problem.params()
        optimizer = make_optimizer(params)
        for k in range(60):
            problem.set_grads(params, k)
            if k < 20:
                params[1].grad = None  # no gradient yet: no state, no update
            if k % 3 == 0:
                params[2].grad = None
            optimizer.step()
        return params, optimizer

    ours, ours_opt = run(lambda ps: Adam(ps, lr=1e-2, amsgrad=True, implementation=implementation))
    theirs, theirs_opt = run(lambda ps: torch.optim.Adam(ps, lr=1e-2, amsgrad=True, **kernel(implementation)))
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert ours_opt.state[ours[1]]["step"].item() == 40
    assert ours_opt.state[ours[2]]["step"].item() == 40


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_a_group_mixing_dtypes_updates_each_dtype_like_torch(implementation):
    gen = torch.Generator().manual_seed(0)
    initial = [
        torch.randn(6, generator=gen),
        torch.randn(3, 2, dtype=torch.float64, generator=gen),
        torch.randn(5, generator=gen),
    ]
    grads = [[torch.randn(x.shape, generator=gen, dtype=x.dtype) for x in initial] for _ in range(20)]

    def run(make_optimizer):
        params = [x.clone().requires_grad_() for x in initial]
        optimizer = make_optimizer(params)
        for step_grads in grads:
            for p, g in zip(params, step_grads, strict=True):
                p.grad = g.clone()
            optimizer.step()
        return params

    ours = run(lambda ps: Adam(ps, lr=1e-2, implementation=implementation))
    theirs = run(lambda ps: torch.optim.Adam(ps, lr=1e-2, **kernel(implementation)))
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_complex_params_are_updated_as_pairs_of_reals(implementation):
    gen = torch.Generator().manual_seed(0)
    initial = torch.randn(8, dtype=torch.complex64, generator=gen)
    grads = [torch.randn(8, dtype=torch.complex64, generator=gen) for _ in range(30)]

    def run(make_optimizer):
        p = initial.clone().requires_grad_()
        optimizer = make_optimizer([p])
        for g in grads:
            p.grad = g.clone()
            optimizer.step()
        return p

    ours = run(lambda ps: Adam(ps, lr=1e-2, weight_decay=0.1, implementation=implementation))
    theirs = run(lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=0.1, foreach=False))
    assert relative_error(torch.view_as_real(ours.detach()), torch.view_as_real(theirs.detach())) < 1e-6


def test_auto_falls_back_to_multi_tensor_where_the_fused_kernel_cannot_run():
    # "meta" tensors have no fused kernel; auto must still step them, fused must refuse clearly.
    theta = torch.zeros(4, device="meta", requires_grad=True)
    theta.grad = torch.zeros(4, device="meta")
    Adam([theta], implementation="auto").step()
    with pytest.raises(ValueError, match="implementation='fused'"):
        Adam([theta], implementation="fused").step()


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_lr_may_be_a_zero_dim_tensor(implementation):
    problem = QuadraticProblem(steps=50, dtype=torch.float64)
    lr = torch.tensor(3e-2, dtype=torch.float64)
    ours, _ = trained(lambda ps: Adam(ps, lr=lr, betas=(0.8, 0.95), eps=1e-6, implementation=implementation), problem, 50)
    for a, b in zip(ours, written_out(problem, 50, {}, lr=3e-2), strict=True):
        np.testing.assert_allclose(a.detach().numpy(), b, rtol=1e-11, atol=1e-13)


# --- Hyperparameters a user can get wrong. ---


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"lr": 0.0}, "lr"),
        ({"lr": -1e-3}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"lr": torch.tensor([1e-3, 1e-3])}, "lr"),
        ({"lr": "fast"}, "lr"),
        ({"betas": (1.0, 0.999)}, r"betas\[0\] \(beta1\)"),
        ({"betas": (-0.1, 0.999)}, r"betas\[0\] \(beta1\)"),
        ({"betas": (0.9, 1.0)}, r"betas\[1\] \(beta2\)"),
        ({"betas": (0.9, -1e-3)}, r"betas\[1\] \(beta2\)"),
        ({"betas": (0.9,)}, "betas"),
        ({"eps": 0.0}, "eps"),
        ({"eps": -1e-8}, "eps"),
        ({"weight_decay": -0.01}, "weight_decay"),
        ({"implementation": "turbo"}, "implementation"),
    ],
)
def test_bad_hyperparameters_raise_value_errors_that_name_them(kwargs, named):
    theta = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=named):
        Adam([theta], **kwargs)


def test_a_param_group_overriding_a_hyperparameter_is_checked_too():
    theta = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="eps must be > 0"):
        Adam([{"params": [theta], "eps": 0.0}])
