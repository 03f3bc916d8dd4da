"""Learning-rate schedules: the lr multiplier each optimizer step runs at, with optional warm-up.

Users set schedules in (fractional) epochs; the engine asks for the multiplier of step k
(0-based, k = 0 .. epochs·steps_per_epoch − 1). Step k runs at the schedule's value when it
starts, t = k / steps_per_epoch: the convention of torch's schedulers stepped once per batch,
so a step decay at epoch 2 takes effect on the first batch of epoch 2, not the last batch of
epoch 1. Each schedule names the torch scheduler it equals, and the tests hold it to that.

No step runs at lr 0, whatever the floor the user set: warm-up counts the step itself (step k
of W runs at (k+1)/W, torch's LinearLR with start_factor=1/W), cosine's last step is one step
short of its floor, and a cyclic step runs at the triangle's mean over the step (the bottom of
a cycle is a point in time, not a step).

Nothing here holds state: a resumed job asks for the multiplier at its step and gets the same
answer as an uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from adamant.spec import ScheduleSpec

StepMultiplier = Callable[[int], float]  # 0-based step index -> lr multiplier for that step

# Float noise in step / (step_epochs·steps_per_epoch) must not move a decay by a whole step.
_BOUNDARY_SLACK = 1e-9


def constant() -> StepMultiplier:
    return lambda k: 1.0


def step_decay(gamma: float, step_epochs: float, steps_per_epoch: int) -> StepMultiplier:
    """gamma^⌊t / step_epochs⌋. torch: StepLR(step_size=step_epochs) stepped per epoch (integer
    step_epochs), or StepLR(step_size=step_epochs·steps_per_epoch) stepped per batch."""
    steps_per_decay = step_epochs * steps_per_epoch
    return lambda k: gamma ** math.floor(k / steps_per_decay + _BOUNDARY_SLACK)


def exponential(gamma: float, steps_per_epoch: int) -> StepMultiplier:
    """gamma^t, smooth within an epoch. torch: ExponentialLR(gamma^(1/steps_per_epoch)) stepped
    per batch; on each epoch's first step, ExponentialLR(gamma) stepped per epoch."""
    return lambda k: gamma ** (k / steps_per_epoch)


def inverse_time(decay_rate: float, steps_per_epoch: int) -> StepMultiplier:
    """1 / (1 + decay_rate·t): the 1/t decay of stochastic-approximation theory (no torch class)."""
    return lambda k: 1.0 / (1.0 + decay_rate * k / steps_per_epoch)


def cosine(total_steps: int, min_ratio: float) -> StepMultiplier:
    """torch: CosineAnnealingLR(T_max=total_steps, eta_min=min_ratio·lr) stepped per batch."""
    return lambda k: min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * k / total_steps))


def cyclic(cycle_epochs: float, min_ratio: float, steps_per_epoch: int) -> StepMultiplier:
    """Triangular cycles between min_ratio·lr and lr (Smith, 2017), starting at the bottom.

    Step k runs at the triangle's mean over [k, k+1): where a half-cycle is a whole number of
    steps that is the mean of torch's CyclicLR(base_lr=min_ratio·lr, max_lr=lr,
    step_size_up=half-cycle) at iterations k and k+1. Sampling the start instead, as CyclicLR
    does, would run the first step of every cycle at lr 0 when min_ratio is 0.
    """
    steps_per_cycle = cycle_epochs * steps_per_epoch

    def rising_area(x: float) -> float:
        """∫₀ˣ of the unit triangle (0 → 1 at ½ → 0 at 1), for x in cycles, x ≥ 0."""
        whole = math.floor(x)
        phase = x - whole
        part = phase * phase if phase < 0.5 else 0.5 - (1.0 - phase) ** 2
        return 0.5 * whole + part

    def multiplier(k: int) -> float:
        start, end = k / steps_per_cycle, (k + 1) / steps_per_cycle
        shift = math.floor(start)  # integrate near 0 so the difference keeps its digits
        height = (rising_area(end - shift) - rising_area(start - shift)) / (end - start)
        return min_ratio + (1.0 - min_ratio) * height

    return multiplier


def one_cycle(total_steps: int, pct_start: float, div_factor: float, final_div_factor: float) -> StepMultiplier:
    """Cosine up from lr/div to lr, then down to lr/(div·final_div) on the last step.

    torch: OneCycleLR(max_lr=lr, total_steps, pct_start, div_factor, final_div_factor,
    anneal_strategy="cos", three_phase=False) stepped per batch, whose phases end at steps
    pct_start·total_steps − 1 and total_steps − 1.
    """
    start = 1.0 / div_factor
    end = start / final_div_factor
    peak_step = pct_start * total_steps - 1.0
    last_step = total_steps - 1.0

    def anneal(a: float, b: float, fraction: float) -> float:
        return b + (a - b) / 2.0 * (math.cos(math.pi * fraction) + 1.0)

    def fraction(k: int, begin: float, finish: float) -> float:
        # A phase of no length (a run of one or two steps) is already over.
        return (k - begin) / (finish - begin) if finish > begin else 1.0

    def multiplier(k: int) -> float:
        if k <= peak_step:
            return anneal(start, 1.0, fraction(k, 0.0, peak_step))
        return anneal(1.0, end, fraction(k, peak_step, last_step))

    return multiplier


def with_warmup(inner: StepMultiplier, warmup_epochs: float, steps_per_epoch: int) -> StepMultiplier:
    """Linear warm-up over the first warmup_epochs, times the inner schedule, which keeps counting
    from step 0 so a decay lands where the user set it. Step k of W runs at (k+1)/W: the last
    warm-up step reaches the full lr and the first is not wasted at 0."""
    if warmup_epochs <= 0:
        return inner
    warmup_steps = warmup_epochs * steps_per_epoch
    return lambda k: min(1.0, (k + 1) / warmup_steps) * inner(k)


def lr_multiplier(spec: ScheduleSpec, total_epochs: int, steps_per_epoch: int) -> StepMultiplier:
    """The schedule a spec names: step index (0-based) -> multiplier of the base lr."""
    total_steps = total_epochs * steps_per_epoch
    schedules: dict[str, Callable[[], StepMultiplier]] = {
        "constant": constant,
        "step": lambda: step_decay(spec.gamma, spec.step_epochs, steps_per_epoch),
        "exponential": lambda: exponential(spec.gamma, steps_per_epoch),
        "inverse_time": lambda: inverse_time(spec.decay_rate, steps_per_epoch),
        "cosine": lambda: cosine(total_steps, spec.min_lr_ratio),
        "cyclic": lambda: cyclic(spec.cycle_epochs, spec.min_lr_ratio, steps_per_epoch),
        "one_cycle": lambda: one_cycle(total_steps, spec.pct_start, spec.div_factor, spec.final_div_factor),
    }
    return with_warmup(schedules[spec.type](), spec.warmup_epochs, steps_per_epoch)
