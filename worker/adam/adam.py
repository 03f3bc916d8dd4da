"""Our Adam: the update rule, its three execution paths, and the optimizer that picks one.

The rule, for every parameter θ with gradient g at step t (β1, β2, lr, ε from the group):

    m = β1·m + (1−β1)·g              v = β2·v + (1−β2)·g²
    m̂ = m / (1−β1^t)                 v̂ = v / (1−β2^t)
    θ = θ − lr · m̂ / (√v̂ + ε)

plus the variants users ask for, placed exactly where torch places them so a job can move
between our core and ``torch.optim.Adam``/``AdamW`` and keep its trajectory:

- L2 weight decay adds λθ to g before the moments (``weight_decay``).
- Decoupled weight decay (AdamW, ``decoupled_weight_decay=True``) shrinks θ by ``1 − lr·λ``
  before the update: the decay is scaled by lr, as in torch, apex and optax.
- AMSGrad keeps the running maximum of the *raw* v (before bias correction) and uses it in
  place of v.
- ε is added outside the square root, after bias correction (torch dense Adam; not the
  "epsilon hat" of TF/Keras and SparseAdam).
- ``maximize`` ascends instead of descending.

Execution paths, chosen by one switch, ``implementation``:

- ``"reference"`` — ``_reference_adam``: one tensor at a time, reading like the rule above. It
  performs torch's for-loop Adam op for op, so the two agree bit for bit.
- ``"multi_tensor"`` — ``_multi_tensor_adam``: the same math as ``torch._foreach_*`` ops over
  the lists of one device/dtype bucket; bit for bit torch's ``foreach=True`` path.
- ``"fused"`` — ``_fused_adam``: one call of torch's fused kernel (``torch._fused_adam_`` /
  ``torch._fused_adamw_``) per bucket, which reads and writes each element once (28 bytes per
  fp32 parameter, 36 with AMSGrad). torch 2.13 ships it for CPU, CUDA, MPS and XPU.
- ``"auto"`` — fused wherever the kernel supports the bucket (floating or complex params on a
  fused-capable device), else multi_tensor.

Why the fused path calls torch's kernel rather than one of ours. Measured with
``python -m bench.adam_step --compiled`` on the project's CPU worker (AMD EPYC, 2 cores,
AVX-512, torch 2.13; load average 0.5), 10 tensors × 1M fp32: torch's fused kernel takes
5.6 ms per step (~50 GB/s at 28 B/param, the memory-bandwidth floor of this machine), and an
Adam step of our own compiled with ``torch.compile`` (inductor, C++ backend) 5.7 ms — 1.01×
(1.09× at 10 × 100k, 0.98× on a 66-tensor MLP-like mix): a tie. The compiled step costs 1–15 s
of compilation per parameter-list shape and per variant (AMSGrad, AdamW, maximize), and
recompiles when a scalar gets specialised; a C++ extension would put a compiler into every
worker image for a gain the bandwidth floor does not leave. Both agree with torch's for-loop
to well under 1e-6 (the compiled step 5e-8, the fused kernel ~6e-7 after 500 steps), so the
measured ratio and the compile cost decided. Our step with the fused path measured 0.97×
torch's fused step at 10M (AMSGrad 0.98×, AdamW 0.97×) and 5.1× faster than torch's for-loop.

Per-step overhead. The training engine steps a small MLP in ~0.25 ms, so the Python around the
kernel matters: on a 3.5k-parameter, 6-tensor MLP our step takes 0.04 ms against 0.08 ms for
torch's fused step (same kernel). ``step`` walks each group once, collecting gradients and
state; it does not call torch's ``_group_tensors_by_device_and_dtype`` (≈11 µs for six
tensors) when, as usual, all of a group's parameters share one device and dtype; it bumps the
CPU ``step`` counters with one foreach add of a cached tensor (≈4 µs for six, against ≈19 µs
for torch's add of a Python 1). The tensor lists themselves are *not* cached between steps: looking state up costs
≈0.3 µs per parameter, and a cached list would silently go stale when a user reinitialises
``optimizer.state[p]`` or moves a parameter, while re-collecting stays correct whenever grads
appear, disappear or turn sparse.

State per parameter, the same keys as torch so state dicts interchange:
``step`` (a float32 scalar tensor: on the CPU, except for the fused path on an accelerator
where the kernel reads it on the parameter's device — torch's own placement rule),
``exp_avg``, ``exp_avg_sq`` and, with AMSGrad, ``max_exp_avg_sq``. Parameters updated by the
lazy form (see ``lazy.py``) also hold ``row_step``. ``load_state_dict`` (torch's, plus the
placement fix-ups in ``__setstate__``) moves state to each parameter's device and ``step`` to
where its path needs it, so a checkpoint saved on one device resumes on another. It takes
hyperparameters from the checkpoint, as torch does, but keeps each group's
``implementation``: how to run belongs to the process that resumes.

Sparse gradients never reach the dense paths: any parameter whose gradient is sparse (or
which already has per-row state) is updated by ``lazy_adam``, row by row.

One caveat for whoever sizes CPU workers: torch's fused CPU kernel opens an OpenMP parallel
region for every tensor, however small. When the machine is oversubscribed (more busy
threads than cores, e.g. several worker processes each using every core), each region can
wait a scheduler tick for its second thread — milliseconds per tensor, where the for-loop's
small ops run inline. Keep ``torch.set_num_threads`` × worker processes ≤ cores.

Not offered: torch's ``capturable`` (CUDA-graph capture) and ``differentiable`` modes, and
the fused kernel's in-kernel GradScaler unscaling (``torch.amp.GradScaler`` falls back to
unscaling the gradients itself, which is correct, just one more pass).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from worker.adam.lazy import lazy_adam

IMPLEMENTATIONS = ("auto", "reference", "multi_tensor", "fused")

_FUSED_DTYPES = frozenset({torch.float64, torch.float32, torch.float16, torch.bfloat16})
try:
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

    _FUSED_DEVICES = frozenset(_get_fused_kernels_supported_devices())
except ImportError:  # a torch that moved the helper; these are the devices 2.13 lists
    _FUSED_DEVICES = frozenset({"cpu", "cuda", "mps", "xpu", "hpu", "mtia"})

_CPU = torch.device("cpu")
# Adding a ready-made tensor to CPU step counters takes foreach's fast path; a Python 1
# would be wrapped into a new tensor for every counter.
_ONE = torch.tensor(1.0)


class Adam(Optimizer):
    """Adam / AdamW / AMSGrad with a lazy row-sparse form; a drop-in for ``torch.optim.Adam``.

    Args:
        params: tensors or param-group dicts, as for any torch optimizer.
        lr: learning rate, > 0; a float or a 0-dim tensor.
        betas: (β1, β2), each in [0, 1).
        eps: added to √v̂ (outside the root, after bias correction), > 0.
        weight_decay: λ ≥ 0; L2 (added to the gradient) unless ``decoupled_weight_decay``.
        amsgrad: use the running maximum of the raw second moment.
        decoupled_weight_decay: AdamW — shrink θ by ``1 − lr·λ`` before each update.
        implementation: "auto", "reference", "multi_tensor" or "fused" (see the module doc).
        maximize: ascend the objective instead of descending it.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        decoupled_weight_decay: bool = False,
        *,
        implementation: str = "auto",
        maximize: bool = False,
    ) -> None:
        check_hyperparameters(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, implementation=implementation
        )
        defaults = {
            "lr": lr,
            "betas": (float(betas[0]), float(betas[1])),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "implementation": implementation,
        }
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        # A group may override any default; check its values before torch stores the group.
        merged = {**self.defaults, **param_group}
        check_hyperparameters(
            lr=merged["lr"],
            betas=merged["betas"],
            eps=merged["eps"],
            weight_decay=merged["weight_decay"],
            implementation=merged["implementation"],
        )
        super().add_param_group(param_group)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Runs on unpickling and inside load_state_dict: fill in the keys older or foreign
        # (torch's) state dicts lack, and put every `step` where its path will read it.
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("decoupled_weight_decay", False)
            group.setdefault("maximize", False)
            group.setdefault("implementation", self.defaults.get("implementation", "auto"))
        self._place_steps()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load state saved by this class or by ``torch.optim.Adam``/``AdamW``, from any device.

        Hyperparameters come from the saved groups, as in torch. The ``implementation`` does
        not: how to run is a property of the process resuming the job (its device, its
        build), so each group keeps the one this optimizer was built with.
        """
        implementations = [group["implementation"] for group in self.param_groups]
        # torch casts every state tensor, integer ones included, to the parameter's dtype; per-row
        # step counts must stay exact integers (a bf16 count is wrong after 256 steps), so they
        # are set aside and restored as int64 on the parameter's device.
        saved_row_steps = {
            key: entries["row_step"]
            for key, entries in state_dict["state"].items()
            if isinstance(entries, dict) and "row_step" in entries
        }
        super().load_state_dict(state_dict)
        for group, implementation in zip(self.param_groups, implementations, strict=True):
            group["implementation"] = implementation
        if saved_row_steps:
            saved_ids = [key for group in state_dict["param_groups"] for key in group["params"]]
            params = [p for group in self.param_groups for p in group["params"]]
            for key, p in zip(saved_ids, params, strict=True):
                if key in saved_row_steps:
                    self.state[p]["row_step"] = torch.as_tensor(saved_row_steps[key]).to(
                        device=p.device, dtype=torch.int64
                    )
        self._place_steps()

    def _place_steps(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                p_state = self.state.get(p)
                if p_state and "step" in p_state:
                    device = _step_device(group["implementation"], p, lazy="row_step" in p_state)
                    p_state["step"] = _as_step(p_state["step"], device)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Apply one Adam update to every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._update_group(group)
        return loss

    def _update_group(self, group: dict[str, Any]) -> None:
        amsgrad = group["amsgrad"]
        params: list[Tensor] = []
        grads: list[Tensor] = []
        exp_avgs: list[Tensor] = []
        exp_avg_sqs: list[Tensor] = []
        max_exp_avg_sqs: list[Tensor] = []
        steps: list[Tensor] = []
        lazy: list[Tensor] = []
        first: Tensor | None = None
        one_bucket = True

        state_of = self.state
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            state = state_of[p]
            if grad.layout is not torch.strided or "row_step" in state:
                lazy.append(p)
                continue
            if first is None:
                first = p
            elif p.dtype is not first.dtype or p.device != first.device:
                one_bucket = False
            if not state:
                _init_dense_state(state, p, group["implementation"], amsgrad)
            elif amsgrad and "max_exp_avg_sq" not in state:
                # amsgrad switched on mid-run: start the running maximum from the current v.
                state["max_exp_avg_sq"] = state["exp_avg_sq"].clone()
            params.append(p)
            grads.append(grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
            if amsgrad:
                max_exp_avg_sqs.append(state["max_exp_avg_sq"])

        if not params and not lazy:
            return
        hyper = _hyperparameters(group)
        if params:
            lists = [params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps]
            if one_bucket:
                self._update_bucket(group, lists, hyper)
            else:
                buckets = torch._C._group_tensors_by_device_and_dtype(lists, False)
                for bucket_lists, _ in buckets.values():
                    self._update_bucket(group, bucket_lists, hyper)

        if lazy:
            hyper["lr"] = float(hyper["lr"])
            for p in lazy:
                lazy_adam(p, p.grad, state_of[p], **hyper)

    def _update_bucket(self, group: dict[str, Any], lists: list[list[Tensor]], hyper: dict[str, Any]) -> None:
        """Run the group's path over tensors that share one device and dtype."""
        params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps = lists
        first = params[0]
        path = _dense_path(group["implementation"], first)
        if not first.is_cpu:
            steps = self._steps_placed_for(path, params, steps)
        if first.is_complex():
            # Adam treats the real and imaginary parts as independent reals, as torch does.
            params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs = (
                [torch.view_as_real(t) for t in ts]
                for ts in (params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs)
            )
        lr = hyper["lr"]
        if isinstance(lr, Tensor) and (path != "fused" or lr.device != first.device):
            hyper = {**hyper, "lr": lr.item() if path != "fused" else lr.to(first.device)}
        _DENSE_UPDATES[path](params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, **hyper)

    def _steps_placed_for(self, path: str, params: list[Tensor], steps: list[Tensor]) -> list[Tensor]:
        """On an accelerator, make sure each `step` sits where this path reads it.

        It only moves when the implementation was changed after state was made; the fused
        kernel reads `step` on the device, the other paths read it on the CPU without a sync.
        """
        wanted = params[0].device if path == "fused" else _CPU
        if all(s.device == wanted for s in steps):
            return steps
        placed = []
        for p, s in zip(params, steps, strict=True):
            self.state[p]["step"] = s = _as_step(s, wanted)
            placed.append(s)
        return placed


def check_hyperparameters(
    *, lr: float | Tensor, betas: Any, eps: float, weight_decay: float, implementation: str
) -> None:
    """Raise ValueError naming the first hyperparameter that Adam cannot run with."""
    if isinstance(lr, Tensor):
        if lr.dim() != 0:
            raise ValueError(f"lr must be a float or a 0-dim tensor, got a tensor of shape {tuple(lr.shape)}")
        lr_value = lr.item()
    else:
        lr_value = lr
    if not _is_real_number(lr_value) or not lr_value > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    try:
        beta1, beta2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
    for index, beta in enumerate((beta1, beta2)):
        value = beta.item() if isinstance(beta, Tensor) else beta
        if not _is_real_number(value) or not 0.0 <= value < 1.0:
            raise ValueError(f"betas[{index}] (beta{index + 1}) must be in [0, 1), got {beta!r}")
    if not _is_real_number(eps) or not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    if not _is_real_number(weight_decay) or not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")


def fused_supports(p: Tensor) -> bool:
    """Whether torch's fused Adam kernel can update ``p`` (complex params go as real views)."""
    dtype = p.dtype.to_real() if p.is_complex() else p.dtype
    return p.device.type in _FUSED_DEVICES and dtype in _FUSED_DTYPES


def _dense_path(implementation: str, p: Tensor) -> str:
    if implementation == "auto":
        return "fused" if fused_supports(p) else "multi_tensor"
    if implementation == "fused" and not fused_supports(p):
        raise ValueError(
            f"implementation='fused' cannot update a {p.dtype} parameter on {p.device.type}; "
            f"the fused kernel takes {sorted(str(d) for d in _FUSED_DTYPES)} on {sorted(_FUSED_DEVICES)}. "
            "Use implementation='auto' or 'multi_tensor'."
        )
    return implementation


def _step_device(implementation: str, p: Tensor, *, lazy: bool) -> torch.device:
    """Where `step` lives: on the parameter's accelerator only for the fused kernel to read."""
    if lazy or p.is_cpu:
        return _CPU
    if implementation == "fused" or (implementation == "auto" and fused_supports(p)):
        return p.device
    return _CPU


def _as_step(step: Tensor | float, device: torch.device) -> Tensor:
    if not isinstance(step, Tensor):
        return torch.tensor(float(step), dtype=torch.float32, device=device)
    if step.device != device or step.dtype != torch.float32:
        return step.to(device=device, dtype=torch.float32)
    return step


def _init_dense_state(state: dict[str, Any], p: Tensor, implementation: str, amsgrad: bool) -> None:
    state["step"] = torch.zeros((), dtype=torch.float32, device=_step_device(implementation, p, lazy=False))
    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    if amsgrad:
        state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)


def _hyperparameters(group: dict[str, Any]) -> dict[str, Any]:
    beta1, beta2 = group["betas"]
    return {
        "lr": group["lr"],
        "beta1": beta1,
        "beta2": beta2,
        "eps": group["eps"],
        "weight_decay": group["weight_decay"],
        "decoupled_weight_decay": group["decoupled_weight_decay"],
        "amsgrad": group["amsgrad"],
        "maximize": group["maximize"],
    }


def _is_real_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


# --- The execution paths. Same arguments, same result; each bumps its own step counters. ---


def _reference_adam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    steps: list[Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
    amsgrad: bool,
    maximize: bool,
) -> None:
    """One tensor at a time, line by line the rule in the module doc (and torch's for-loop)."""
    for i, theta in enumerate(params):
        g = -grads[i] if maximize else grads[i]
        m, v, step = exp_avgs[i], exp_avg_sqs[i], steps[i]

        step += 1
        t = step.item()

        if weight_decay != 0:
            if decoupled_weight_decay:
                theta.mul_(1 - lr * weight_decay)  # AdamW: θ shrinks by lr·λ, outside the moments
            else:
                g = g.add(theta, alpha=weight_decay)  # L2: g = g + λθ

        m.lerp_(g, 1 - beta1)  # m = β1·m + (1−β1)·g  (a lerp toward g, as torch writes it)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)  # v = β2·v + (1−β2)·g²
        if amsgrad:
            # The running maximum is of the raw v; bias correction comes after, as in torch.
            torch.maximum(max_exp_avg_sqs[i], v, out=max_exp_avg_sqs[i])
            v = max_exp_avg_sqs[i]

        bias_correction1 = 1 - beta1**t  # m̂ = m / bias_correction1
        bias_correction2 = 1 - beta2**t  # v̂ = v / bias_correction2

        # θ = θ − lr·m̂/(√v̂ + ε), with √v̂ = √v/√bias_correction2: ε stays outside the root.
        denom = (v.sqrt() / bias_correction2**0.5).add_(eps)
        theta.addcdiv_(m, denom, value=-(lr / bias_correction1))


def _multi_tensor_adam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    steps: list[Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
    amsgrad: bool,
    maximize: bool,
) -> None:
    """The reference path's ops, each applied to a whole list at once with torch._foreach_*."""
    _bump_steps(steps)
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        if decoupled_weight_decay:
            torch._foreach_mul_(params, 1 - lr * weight_decay)
        elif maximize:  # grads is already our own copy
            torch._foreach_add_(grads, params, alpha=weight_decay)
        else:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)

    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
    del grads  # a temporary when maximize or L2 made one; free it before the sqrt below

    ts = [s.item() for s in steps]
    step_sizes = [-(lr / (1 - beta1**t)) for t in ts]
    bias_correction2_sqrts = [(1 - beta2**t) ** 0.5 for t in ts]

    if amsgrad:
        torch._foreach_maximum_(max_exp_avg_sqs, exp_avg_sqs)
        denoms = torch._foreach_sqrt(max_exp_avg_sqs)
    else:
        denoms = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denoms, bias_correction2_sqrts)
    torch._foreach_add_(denoms, eps)
    torch._foreach_addcdiv_(params, exp_avgs, denoms, step_sizes)


def _fused_adam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    steps: list[Tensor],
    *,
    lr: float | Tensor,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
    amsgrad: bool,
    maximize: bool,
) -> None:
    """The whole rule in one pass over memory: torch's fused Adam/AdamW kernel."""
    _bump_steps(steps)
    kernel = torch._fused_adamw_ if decoupled_weight_decay else torch._fused_adam_
    kernel(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        max_exp_avg_sqs,
        steps,
        amsgrad=amsgrad,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        weight_decay=weight_decay,
        eps=eps,
        maximize=maximize,
    )


def _bump_steps(steps: list[Tensor]) -> None:
    if steps[0].is_cpu:
        torch._foreach_add_(steps, _ONE, alpha=1.0)
    else:
        torch._foreach_add_(steps, 1.0)


_DENSE_UPDATES: dict[str, Callable[..., None]] = {
    "reference": _reference_adam,
    "multi_tensor": _multi_tensor_adam,
    "fused": _fused_adam,
}
