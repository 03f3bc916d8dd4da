import math

import pytest

from adamant.spec import ScheduleSpec
from worker.engine.schedules import lr_multiplier


def at(spec: ScheduleSpec, epoch: float, total: float = 10.0) -> float:
    return lr_multiplier(spec, total)(epoch)


def test_constant_keeps_the_base_lr() -> None:
    assert [at(ScheduleSpec(), e) for e in (0.1, 5, 10)] == [1.0, 1.0, 1.0]


def test_step_decay_drops_by_gamma_every_step_epochs() -> None:
    spec = ScheduleSpec(type="step", gamma=0.5, step_epochs=3)
    assert [at(spec, e) for e in (0.5, 2.99, 3.0, 6.5)] == [1.0, 1.0, 0.5, 0.25]


def test_exponential_and_inverse_time_follow_their_formulas() -> None:
    assert at(ScheduleSpec(type="exponential", gamma=0.9), 2.5) == pytest.approx(0.9**2.5)
    assert at(ScheduleSpec(type="inverse_time", decay_rate=0.5), 4.0) == pytest.approx(1 / 3)


def test_cosine_falls_from_one_to_the_floor_at_the_last_epoch() -> None:
    spec = ScheduleSpec(type="cosine", min_lr_ratio=0.1)
    assert at(spec, 0.0) == pytest.approx(1.0)
    assert at(spec, 5.0) == pytest.approx(0.55)
    assert at(spec, 10.0) == pytest.approx(0.1)


def test_cyclic_rises_and_falls_between_floor_and_peak() -> None:
    spec = ScheduleSpec(type="cyclic", cycle_epochs=2.0, min_lr_ratio=0.2)
    assert [at(spec, e) for e in (0.0, 1.0, 2.0, 3.0)] == pytest.approx([0.2, 1.0, 0.2, 1.0])


def test_one_cycle_peaks_at_pct_start_and_ends_far_below_the_start() -> None:
    spec = ScheduleSpec(type="one_cycle", pct_start=0.3, div_factor=25, final_div_factor=1e4)
    values = [at(spec, e / 10) for e in range(101)]
    assert values[0] == pytest.approx(1 / 25)
    assert max(values) == pytest.approx(1.0) and values.index(max(values)) == 30
    assert values[-1] == pytest.approx(1 / 25 / 1e4)


def test_warmup_ramps_linearly_then_hands_over_to_the_schedule() -> None:
    spec = ScheduleSpec(type="cosine", warmup_epochs=1.0)
    cosine = lr_multiplier(ScheduleSpec(type="cosine"), 10.0)
    assert at(spec, 0.25) == pytest.approx(0.25 * cosine(0.25))
    assert at(spec, 3.0) == pytest.approx(cosine(3.0))
    assert all(math.isfinite(at(spec, e / 7)) for e in range(71))
