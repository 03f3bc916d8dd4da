"""Gains and lift: the deciles a marketer reads, checked on rankings whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from adamant.monitoring.gains import auc, gains_table, lift_summary


def random_campaign(rows: int = 5000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.random(rows)
    responded = rng.random(rows) < 0.05 + 0.3 * scores  # better scores respond more often
    return responded, scores


def test_deciles_add_up_to_every_row_and_every_responder() -> None:
    y, s = random_campaign()
    table = gains_table(y, s)
    assert [row["decile"] for row in table] == list(range(1, 11))
    assert sum(row["rows"] for row in table) == len(y)
    assert sum(row["responders"] for row in table) == int(y.sum())
    assert table[-1]["cumulative_responders"] == int(y.sum())
    assert all(row["max_score"] >= row["min_score"] for row in table)
    assert all(a["min_score"] >= b["max_score"] for a, b in zip(table, table[1:]))  # best first


def test_cumulative_gains_rise_monotonically_to_one() -> None:
    y, s = random_campaign(seed=1)
    gains = [row["cumulative_gain"] for row in gains_table(y, s)]
    assert all(a <= b for a, b in zip(gains, gains[1:]))
    assert gains[-1] == pytest.approx(1.0)
    assert gains_table(y, s)[-1]["cumulative_lift"] == pytest.approx(1.0)


def test_a_perfect_ranker_lifts_its_first_decile_to_one_over_the_base_rate() -> None:
    rows, base_rate = 1000, 0.2  # responders fill the first two deciles exactly
    y = np.zeros(rows, dtype=bool)
    y[: int(rows * base_rate)] = True
    s = np.where(y, 0.9, 0.1) + np.linspace(0, 0.01, rows)
    table = gains_table(y, s)
    assert table[0]["response_rate"] == 1.0
    assert table[0]["lift"] == pytest.approx(1 / base_rate)
    assert table[0]["cumulative_gain"] == pytest.approx(0.5)
    assert table[2]["responders"] == 0
    summary = lift_summary(y, s)
    assert summary["top_decile_lift"] == pytest.approx(1 / base_rate)
    assert summary["auc"] == pytest.approx(1.0)
    assert summary["gain_at_20"] == pytest.approx(1.0)


def test_a_random_ranker_has_lift_near_one_and_auc_near_half() -> None:
    rng = np.random.default_rng(2)
    y = rng.random(200_000) < 0.1
    s = rng.random(200_000)
    table = gains_table(y, s)
    assert all(row["lift"] == pytest.approx(1.0, abs=0.06) for row in table)
    assert auc(y, s) == pytest.approx(0.5, abs=0.01)


def test_auc_matches_the_pairwise_definition_with_ties() -> None:
    rng = np.random.default_rng(3)
    y = rng.random(300) < 0.3
    s = rng.integers(0, 5, 300).astype(float)  # many ties
    pos, neg = s[y], s[~y]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert auc(y, s) == pytest.approx(pairs / (len(pos) * len(neg)))


def test_nothing_to_divide_by_is_none_never_nan() -> None:
    y = np.zeros(50, dtype=bool)
    table = gains_table(y, np.linspace(0, 1, 50))
    assert all(row["lift"] is None and row["cumulative_gain"] is None for row in table)
    assert lift_summary(y, np.linspace(0, 1, 50))["auc"] is None


def test_labels_other_than_zero_and_one_are_refused() -> None:
    with pytest.raises(ValueError, match="0/1"):
        gains_table(np.array([0.0, 2.0]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="finite"):
        gains_table(np.array([0, 1]), np.array([0.1, np.nan]))
