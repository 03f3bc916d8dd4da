"""The policy's two decisions: does this scoring call for a retraining, does the challenger win."""

from __future__ import annotations

import pytest

from adamant.monitoring.policy import Policy, compare, retrain_reasons

DRIFTED = {"verdict": "retrain recommended", "max_feature": "age", "max_feature_psi": 1.8, "drifted": ["age"]}
WATCH = {"verdict": "monitor", "max_feature": "campaign", "max_feature_psi": 0.15, "drifted": ["campaign"]}


def test_a_drift_verdict_triggers_a_retraining_at_the_policys_level_and_not_below() -> None:
    default = Policy()
    assert retrain_reasons(default, "binary_classification", DRIFTED, None, {}) == [
        "drift verdict 'retrain recommended' reaches the policy's 'retrain recommended'; largest: age PSI 1.800"]
    assert retrain_reasons(default, "binary_classification", WATCH, None, {}) == []
    assert retrain_reasons(Policy(retrain_on="monitor"), "binary_classification", WATCH, None, {}) != []
    assert retrain_reasons(Policy(retrain_on="never"), "binary_classification", DRIFTED, None, {}) == []
    assert retrain_reasons(default, "binary_classification", None, None, {}) == []  # no profile: no verdict


def test_a_metric_drop_on_labelled_rows_triggers_a_retraining_in_the_metrics_direction() -> None:
    policy = Policy(retrain_on="never", max_metric_drop=0.02)
    assert retrain_reasons(policy, "binary_classification", None, {"auc": 0.75}, {"val_auc": 0.80})  # 0.05 worse
    assert not retrain_reasons(policy, "binary_classification", None, {"auc": 0.79}, {"val_auc": 0.80})
    assert retrain_reasons(policy, "regression", None, {"rmse": 13.0}, {"val_rmse": 10.0})  # higher RMSE is worse
    assert not retrain_reasons(policy, "regression", None, {"rmse": 9.0}, {"val_rmse": 10.0})
    assert retrain_reasons(policy, "recommendation", None, {"rmse": 1.1}, {"val_rmse": 0.9})  # ratings: RMSE too


def test_the_challenger_wins_only_by_more_than_the_margin_in_the_metrics_direction() -> None:
    policy = Policy(margin=0.01)
    close = compare(policy, "binary_classification", {"auc": 0.80, "labelled_rows": 900}, {"auc": 0.805, "labelled_rows": 900})
    assert not close.challenger_wins and close.improvement == pytest.approx(0.005) and close.rows == 900
    clear = compare(policy, "binary_classification", {"auc": 0.80}, {"auc": 0.83})
    assert clear.challenger_wins and clear.metric == "auc" and clear.higher_is_better
    lower = compare(policy, "regression", {"rmse": 10.0}, {"rmse": 9.0})
    assert lower.challenger_wins and lower.improvement == pytest.approx(1.0) and not lower.higher_is_better
    assert compare(Policy(), "multiclass_classification", {"accuracy": 0.6}, {"accuracy": 0.7}).metric == "accuracy"
    ratings = compare(policy, "recommendation", {"rmse": 0.95, "mae": 0.75}, {"rmse": 0.91, "mae": 0.72})
    assert ratings.metric == "rmse" and ratings.challenger_wins and not ratings.higher_is_better
    with pytest.raises(ValueError, match="need labels"):
        compare(policy, "binary_classification", {}, {"auc": 0.9})
