"""Real data, real quality: each from one `adamant train` call, beside its baseline (bench/quality.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import quality

pytestmark = pytest.mark.slow


def test_bank_marketing_auc_is_within_0_005_of_hist_gradient_boosting(tmp_path: Path) -> None:
    row = quality.bank_marketing(tmp_path)
    assert row["adamant"] >= row["baseline"] - 0.005, row
    assert row["baseline"] > 0.78  # the baseline itself is sane: the split and target are right


def test_movielens_rmse_is_at_most_0_910_in_under_a_minute(tmp_path: Path, movielens_path: Path) -> None:
    row = quality.movielens(tmp_path)
    assert row["adamant"] <= 0.910, row
    assert row["seconds"] < 60, row
    assert row["hr_10"] > 0.3  # ranking works too: the held-out favourite is often in the top 10 of 101


def test_cdnow_segments_separate_future_value_at_least_as_well_as_kmeans(tmp_path: Path) -> None:
    row = quality.cdnow_segments(tmp_path)
    assert row["adamant"] >= row["baseline"], row
    assert row["silhouette"] > 0.2
    assert len(row["sizes"]) == 5 and min(row["sizes"]) > 0
