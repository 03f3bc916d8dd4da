"""Adam's internals as numbers a person can watch (gradient norm, update/parameter ratios), and
clipping by that same norm.

Measured on logging steps only. Sparse (embedding) gradients touch a few rows, so for those
the snapshot and the ratio cover just the rows the step changed rather than the whole table.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def grad_norm(params: Iterable[torch.Tensor]) -> float:
    """L2 norm of all gradients together, dense or sparse."""
    total = 0.0
    for p in params:
        g = p.grad
        if g is None:
            continue
        if g.is_sparse:
            g = g.coalesce().values()
        total += float(g.detach().double().pow(2).sum())
    return total**0.5


def clip_grad_norm(params: Iterable[torch.Tensor], max_norm: float) -> float:
    """Scale all gradients together so their L2 norm is at most ``max_norm``; return the norm
    before clipping. ``torch.nn.utils.clip_grad_norm_`` with the same coefficient,
    max_norm / (norm + 1e-6) capped at 1, but sparse (embedding) gradients count too: their norm
    is taken over the coalesced values (an uncoalesced gradient repeats a row once per lookup,
    and the repeats sum), and their values are scaled in place."""
    grads = []
    for p in params:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()  # the optimizer's lazy update coalesces anyway; once is enough
        grads.append(p.grad)
    if not grads:
        return 0.0
    device = grads[0].device
    norms = [
        torch.linalg.vector_norm((g.values() if g.is_sparse else g).detach(), dtype=torch.float64).to(device)
        for g in grads
    ]
    total = torch.linalg.vector_norm(torch.stack(norms))
    scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        # mul_ on a sparse tensor scales its values; a 0-dim tensor keeps the device from syncing here.
        g.mul_(scale.to(dtype=g.dtype, device=g.device))
    return float(total)


Snapshot = list[list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]]]


def parameter_snapshot(optimizer: torch.optim.Optimizer) -> Snapshot:
    """Per param group: (param, touched rows or None, copy of the values the step may change)."""
    snapshot: Snapshot = []
    for group in optimizer.param_groups:
        entries = []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                rows = p.grad.coalesce().indices()[0]
                entries.append((p, rows, p.detach().index_select(0, rows).clone()))
            else:
                entries.append((p, None, p.detach().clone()))
        snapshot.append(entries)
    return snapshot


def update_ratios(optimizer: torch.optim.Optimizer, before: Snapshot) -> dict[str, float]:
    """‖Δθ‖/‖θ‖ for the whole model and per named param group ("update_ratio/<group>")."""
    ratios: dict[str, float] = {}
    all_update = all_param = 0.0
    for index, (group, entries) in enumerate(zip(optimizer.param_groups, before)):
        update = param = 0.0
        for p, rows, old in entries:
            new = p.detach() if rows is None else p.detach().index_select(0, rows)
            update += float((new - old).double().pow(2).sum())
            param += float(old.double().pow(2).sum())
        if entries:
            name = group.get("name", str(index))
            ratios[f"update_ratio/{name}"] = (update**0.5) / (param**0.5 + 1e-12)
        all_update += update
        all_param += param
    ratios["update_ratio"] = (all_update**0.5) / (all_param**0.5 + 1e-12)
    return ratios
