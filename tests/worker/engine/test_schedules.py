"""The lr each step runs at, against torch's schedulers stepped the way each schedule documents.

A schedule is checked on every step of a few epochs, boundaries included, to 1e-12 relative
(torch's schedulers compute most lrs recursively, so their rounding drifts by ~1e-15 a step).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch.optim import lr_scheduler

from adamant.spec import ScheduleSpec
from worker.engine.schedules import lr_multiplier

LR = 1e-3
STEPS_PER_EPOCH = 10
EPOCHS = 6
TOTAL = STEPS_PER_EPOCH * EPOCHS


def ours(steps: int = TOTAL, *, epochs: int = EPOCHS, steps_per_epoch: int = STEPS_PER_EPOCH, **schedule) -> list[float]:
    """The lr of each step, as the trainer sets it: base lr × the multiplier of the step's index."""
    multiplier = lr_multiplier(ScheduleSpec(**schedule), epochs, steps_per_epoch)
    return [LR * multiplier(k) for k in range(steps)]


def torchs(
    make: Callable[[torch.optim.Optimizer], lr_scheduler.LRScheduler],
    steps: int = TOTAL,
    *,
    every: int = 1,
) -> list[float]:
    """The lr each optimizer step of torch's scheduler runs at; the scheduler steps every `every` batches."""
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=LR)
    scheduler = make(optimizer)
    lrs = []
    for k in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        param.grad = torch.zeros(1)
        optimizer.step()
        if (k + 1) % every == 0:
            scheduler.step()
    return lrs


def same(actual: list[float], expected: list[float]) -> None:
    assert actual == pytest.approx(expected, rel=1e-12, abs=0), first_difference(actual, expected)


def first_difference(actual: list[float], expected: list[float]) -> str:
    for k, (a, b) in enumerate(zip(actual, expected, strict=True)):
        if abs(a - b) > 1e-12 * abs(b):
            return f"first at step {k}: ours {a!r}, torch {b!r}"
    return "equal"


def test_constant_keeps_the_base_lr() -> None:
    assert ours() == [LR] * TOTAL


def test_step_decay_changes_lr_on_the_first_batch_of_the_epoch_like_step_lr_per_epoch() -> None:
    # The bug this guards: the lr dropped on the last batch of epoch 1, one batch early.
    expected = torchs(lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5), every=STEPS_PER_EPOCH)
    actual = ours(type="step", gamma=0.5, step_epochs=2)
    same(actual, expected)
    assert actual[19] == LR and actual[20] == LR / 2  # last batch of epoch 1, first of epoch 2


@pytest.mark.parametrize(("step_epochs", "steps_per_epoch"), [(0.5, 10), (1.7, 10), (0.28, 25)])
def test_fractional_step_decay_is_step_lr_stepped_per_batch(step_epochs: float, steps_per_epoch: int) -> None:
    # 0.28 × 25 is 7.000000000000001 in floats: the decay must still land on step 7, not 8.
    step_size = round(step_epochs * steps_per_epoch)
    steps = EPOCHS * steps_per_epoch
    expected = torchs(lambda o: lr_scheduler.StepLR(o, step_size=step_size, gamma=0.7), steps)
    same(ours(steps, steps_per_epoch=steps_per_epoch, type="step", gamma=0.7, step_epochs=step_epochs), expected)


def test_exponential_is_exponential_lr_per_batch_and_meets_the_per_epoch_one_at_each_epoch_start() -> None:
    actual = ours(type="exponential", gamma=0.8)
    same(actual, torchs(lambda o: lr_scheduler.ExponentialLR(o, gamma=0.8 ** (1 / STEPS_PER_EPOCH))))
    per_epoch = torchs(lambda o: lr_scheduler.ExponentialLR(o, gamma=0.8), every=STEPS_PER_EPOCH)
    same(actual[::STEPS_PER_EPOCH], per_epoch[::STEPS_PER_EPOCH])


def test_inverse_time_follows_its_formula_at_epoch_starts() -> None:
    actual = ours(type="inverse_time", decay_rate=0.5)
    same(actual[::STEPS_PER_EPOCH], [LR / (1 + 0.5 * e) for e in range(EPOCHS)])


@pytest.mark.parametrize("min_lr_ratio", [0.0, 0.1])
def test_cosine_is_cosine_annealing_lr_per_batch_over_the_whole_run(min_lr_ratio: float) -> None:
    expected = torchs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=TOTAL, eta_min=min_lr_ratio * LR))
    same(ours(type="cosine", min_lr_ratio=min_lr_ratio), expected)


@pytest.mark.parametrize("min_lr_ratio", [0.0, 0.2])
@pytest.mark.parametrize("cycle_epochs", [2.0, 1.4])  # 20 and 14 steps a cycle: half-cycles of whole steps
def test_cyclic_step_runs_at_the_mean_of_cyclic_lr_over_the_step(cycle_epochs: float, min_lr_ratio: float) -> None:
    half_cycle = round(cycle_epochs * STEPS_PER_EPOCH / 2)
    boundaries = torchs(
        lambda o: lr_scheduler.CyclicLR(
            o, base_lr=min_lr_ratio * LR, max_lr=LR, step_size_up=half_cycle, mode="triangular", cycle_momentum=False
        ),
        TOTAL + 1,
    )
    expected = [(a + b) / 2 for a, b in zip(boundaries, boundaries[1:])]
    same(ours(type="cyclic", cycle_epochs=cycle_epochs, min_lr_ratio=min_lr_ratio), expected)


@pytest.mark.parametrize(("pct_start", "div_factor", "final_div_factor"), [(0.3, 25.0, 1e4), (0.25, 10.0, 100.0)])
def test_one_cycle_is_one_cycle_lr_per_batch(pct_start: float, div_factor: float, final_div_factor: float) -> None:
    expected = torchs(
        lambda o: lr_scheduler.OneCycleLR(
            o,
            max_lr=LR,
            total_steps=TOTAL,
            pct_start=pct_start,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
            cycle_momentum=False,
        )
    )
    actual = ours(type="one_cycle", pct_start=pct_start, div_factor=div_factor, final_div_factor=final_div_factor)
    same(actual, expected)
    assert max(actual) == LR and actual[-1] == pytest.approx(LR / div_factor / final_div_factor, rel=1e-12)


def test_warmup_is_linear_lr_from_one_step_of_it() -> None:
    warmup_steps = 15
    expected = torchs(lambda o: lr_scheduler.LinearLR(o, start_factor=1 / warmup_steps, total_iters=warmup_steps - 1))
    actual = ours(warmup_epochs=warmup_steps / STEPS_PER_EPOCH)
    same(actual, expected)
    assert actual[0] == LR / warmup_steps and actual[warmup_steps - 1] == LR


def test_warmup_multiplies_a_step_decay_that_keeps_counting_from_step_zero() -> None:
    expected = torchs(
        lambda o: lr_scheduler.ChainedScheduler(
            [
                lr_scheduler.LinearLR(o, start_factor=1 / STEPS_PER_EPOCH, total_iters=STEPS_PER_EPOCH - 1),
                lr_scheduler.StepLR(o, step_size=2 * STEPS_PER_EPOCH, gamma=0.5),
            ]
        )
    )
    same(ours(type="step", gamma=0.5, step_epochs=2, warmup_epochs=1), expected)


@pytest.mark.parametrize(
    "schedule",
    [
        {"type": "cosine"},
        {"type": "cyclic", "cycle_epochs": 2.0},
        {"type": "cyclic", "cycle_epochs": 0.25},  # 2.5 steps a cycle: a cycle's bottom falls mid-step
        {"type": "cyclic", "cycle_epochs": 0.2},  # 2 steps a cycle: the bottom at every other step's start
        {"type": "one_cycle"},
        {"type": "step", "warmup_epochs": 0.5},
        {"type": "cosine", "warmup_epochs": 3.0},
    ],
    ids=str,
)
def test_no_step_runs_at_lr_zero_with_a_floor_of_zero(schedule: dict) -> None:
    lrs = ours(min_lr_ratio=0.0, **schedule)
    assert all(lr > 0 for lr in lrs), [k for k, lr in enumerate(lrs) if lr <= 0]


def test_a_run_of_one_step_gets_a_finite_positive_lr_from_every_schedule() -> None:
    for kind in ("constant", "step", "exponential", "inverse_time", "cosine", "cyclic", "one_cycle"):
        (lr,) = ours(1, epochs=1, steps_per_epoch=1, type=kind, warmup_epochs=0.5)
        assert 0 < lr <= LR, kind
