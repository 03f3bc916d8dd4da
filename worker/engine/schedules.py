"""Learning-rate schedules as pure functions of training time, composed with warm-up.

Time is measured in fractional epochs (step / steps_per_epoch), which is how users think about
decay; every schedule returns a multiplier of the spec's base lr, so the same function serves
the engine, the dry run's estimate and the tests. Nothing here holds state: a resumed job asks
for the multiplier at its step and gets the same answer as an uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from adamant.spec import ScheduleSpec

Multiplier = Callable[[float], float]  # epoch (fractional) -> lr multiplier


def constant() -> Multiplier:
    return lambda epoch: 1.0


def step_decay(gamma: float, step_epochs: float) -> Multiplier:
    return lambda epoch: gamma ** math.floor(epoch / step_epochs)


def exponential(gamma: float) -> Multiplier:
    return lambda epoch: gamma**epoch


def inverse_time(decay_rate: float) -> Multiplier:
    """lr / (1 + k·t): the 1/t decay of stochastic-approximation theory."""
    return lambda epoch: 1.0 / (1.0 + decay_rate * epoch)


def cosine(total_epochs: float, min_ratio: float) -> Multiplier:
    def multiplier(epoch: float) -> float:
        progress = min(epoch / total_epochs, 1.0)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return multiplier


def cyclic(cycle_epochs: float, min_ratio: float) -> Multiplier:
    """Triangular cycles between min_ratio·lr and lr (Smith, 2017), starting at the bottom."""

    def multiplier(epoch: float) -> float:
        phase = (epoch / cycle_epochs) % 1.0
        height = 1.0 - abs(2.0 * phase - 1.0)
        return min_ratio + (1.0 - min_ratio) * height

    return multiplier


def one_cycle(total_epochs: float, pct_start: float, div_factor: float, final_div_factor: float) -> Multiplier:
    """Cosine up from lr/div to lr over pct_start of training, then down to lr/(div·final_div)."""
    start = 1.0 / div_factor
    end = start / final_div_factor
    peak_at = pct_start * total_epochs

    def anneal(a: float, b: float, fraction: float) -> float:
        return b + (a - b) * 0.5 * (1.0 + math.cos(math.pi * min(max(fraction, 0.0), 1.0)))

    def multiplier(epoch: float) -> float:
        if epoch <= peak_at:
            return anneal(start, 1.0, epoch / peak_at)
        return anneal(1.0, end, (epoch - peak_at) / max(total_epochs - peak_at, 1e-12))

    return multiplier


def with_warmup(inner: Multiplier, warmup_epochs: float) -> Multiplier:
    """Linear warm-up over the first warmup_epochs, then the inner schedule (shifted by nothing:
    the inner schedule keeps counting from 0, so a decay's first step lands where the user set it)."""
    if warmup_epochs <= 0:
        return inner

    def multiplier(epoch: float) -> float:
        ramp = min(1.0, epoch / warmup_epochs)
        return ramp * inner(epoch)

    return multiplier


def lr_multiplier(spec: ScheduleSpec, total_epochs: float) -> Multiplier:
    """The schedule a spec names, as a function of fractional epoch."""
    schedules: dict[str, Callable[[], Multiplier]] = {
        "constant": constant,
        "step": lambda: step_decay(spec.gamma, spec.step_epochs),
        "exponential": lambda: exponential(spec.gamma),
        "inverse_time": lambda: inverse_time(spec.decay_rate),
        "cosine": lambda: cosine(total_epochs, spec.min_lr_ratio),
        "cyclic": lambda: cyclic(spec.cycle_epochs, spec.min_lr_ratio),
        "one_cycle": lambda: one_cycle(total_epochs, spec.pct_start, spec.div_factor, spec.final_div_factor),
    }
    return with_warmup(schedules[spec.type](), spec.warmup_epochs)
