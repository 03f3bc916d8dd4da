import numpy as np
import pytest
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from worker.engine import metrics


def test_auc_matches_sklearn_including_tied_scores() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(5000) < 0.2
    scores = np.round(rng.random(5000) + 0.3 * y, 2)  # rounding makes many ties
    assert metrics.auc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)


def test_auc_of_a_single_class_is_nan_not_a_crash() -> None:
    assert np.isnan(metrics.auc(np.zeros(10), np.arange(10)))


def test_log_loss_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    y, p = rng.random(1000) < 0.3, rng.random(1000)
    assert metrics.log_loss(y, p) == pytest.approx(sk_log_loss(y, p), rel=1e-9)


def test_lift_of_the_top_decile_when_all_buyers_are_on_top() -> None:
    y = np.array([1] * 10 + [0] * 90)
    scores = np.linspace(1, 0, 100)
    assert metrics.lift_at(y, scores, 0.1) == pytest.approx(10.0)


def test_gains_table_accumulates_to_every_responder() -> None:
    rng = np.random.default_rng(2)
    y, s = rng.random(1000) < 0.1, rng.random(1000)
    table = metrics.gains_table(y, s)
    assert len(table) == 10 and sum(row["rows"] for row in table) == 1000
    assert table[-1]["cumulative_gain"] == pytest.approx(1.0)


def test_rmse_and_mae() -> None:
    assert metrics.rmse([1, 2, 3], [1, 2, 5]) == pytest.approx((4 / 3) ** 0.5)
    assert metrics.mae([1, 2, 3], [1, 2, 5]) == pytest.approx(2 / 3)


def test_hit_rate_and_ndcg_from_ranks() -> None:
    hr, ndcg = metrics.hit_rate_and_ndcg(np.array([0, 1, 9, 10, 50]), k=10)
    assert hr == pytest.approx(3 / 5)
    assert ndcg == pytest.approx((1 + 1 / np.log2(3) + 1 / np.log2(11)) / 5)


def test_explained_variance_is_one_for_perfect_segments_and_zero_for_random() -> None:
    values = np.repeat([1.0, 5.0, 9.0], 100)
    labels = np.repeat([0, 1, 2], 100)
    assert metrics.explained_variance(values, labels) == pytest.approx(1.0)
    assert metrics.explained_variance(values, np.zeros(300, dtype=int)) == pytest.approx(0.0)
