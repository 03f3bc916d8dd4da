"""The drift report: PSI, distribution shift and score shift against the training profile."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from adamant.monitoring.drift import RETRAIN, SIGNIFICANT, STABLE, drift_report, population_stability_index
from adamant.monitoring.profile import reference_profile
from adamant.preparation import prepare_training_data
from adamant.spec import JobSpec
from support.data import synthetic_customers

SPEC = JobSpec.model_validate({
    "task": "binary_classification",
    "dataset": {"ref": "builtin:x", "target": "converted", "id_column": "customer_id"},
    "model": {"type": "logistic"},
})


def profile_of(frame: pd.DataFrame, scores: np.ndarray | None = None) -> dict:
    preprocessing = prepare_training_data(SPEC, frame).preprocessing
    return reference_profile(frame, preprocessing, scores=scores)


def by_column(report: dict) -> dict[str, dict]:
    return {feature["column"]: feature for feature in report["features"]}


def test_psi_is_zero_for_identical_shares_and_grows_with_the_shift() -> None:
    expected = np.full(10, 0.1)
    assert population_stability_index(expected, expected) == 0.0
    small = population_stability_index(expected, np.array([0.12, 0.08] * 5))
    large = population_stability_index(expected, np.array([0.3, 0.3, 0.2, 0.1, 0.1, 0, 0, 0, 0, 0]))
    assert 0 < small < 0.1 < 0.25 < large


def test_psi_is_near_zero_on_another_sample_of_the_same_distribution() -> None:
    train, fresh = synthetic_customers(20_000, seed=0), synthetic_customers(20_000, seed=1)
    report = drift_report(profile_of(train), fresh)
    assert report["verdict"] == STABLE and report["drifted"] == []
    assert all(feature["psi"] < 0.01 for feature in report["features"])
    assert {feature["column"] for feature in report["features"]} == {"age", "spend", "channel"}


def test_psi_is_large_for_a_shifted_feature_and_names_it() -> None:
    train, fresh = synthetic_customers(20_000, seed=0), synthetic_customers(20_000, seed=1)
    fresh["spend"] = fresh["spend"] * 3 + 100  # a price change, say
    report = drift_report(profile_of(train), fresh)
    spend = by_column(report)["spend"]
    assert spend["psi"] > 1.0 and spend["status"] == SIGNIFICANT
    assert report["features"][0]["column"] == "spend"  # highest PSI first
    assert spend["mean_shift_std"] > 2 and spend["ks"] > 0.5
    assert report["drifted"] == ["spend"] and report["verdict"] == RETRAIN
    assert by_column(report)["age"]["psi"] < 0.01


def test_categorical_drift_counts_levels_training_never_saw() -> None:
    train, fresh = synthetic_customers(5000, seed=0), synthetic_customers(5000, seed=1)
    fresh.loc[: len(fresh) // 2, "channel"] = "app"
    channel = by_column(drift_report(profile_of(train), fresh))["channel"]
    assert channel["kind"] == "categorical" and channel["status"] == SIGNIFICANT
    assert channel["unseen_share"] == pytest.approx(0.5, abs=0.01)
    assert channel["unseen_levels"][0]["level"] == "app"
    assert 0.45 < channel["tvd"] <= 0.55


def test_score_shift_is_reported_against_the_validation_scores() -> None:
    rng = np.random.default_rng(0)
    train = synthetic_customers(5000, seed=0)
    profile = profile_of(train, scores=rng.beta(2, 5, 2000))
    same = drift_report(profile, train, scores=rng.beta(2, 5, len(train)))
    shifted = drift_report(profile, train, scores=rng.beta(5, 2, len(train)))
    assert same["score"]["psi"] < 0.05 and same["score"]["status"] == STABLE
    assert shifted["score"]["psi"] > 0.25 and shifted["verdict"] == RETRAIN
    assert shifted["reasons"][0].startswith("score: PSI")


def test_missing_cells_and_bins_are_reported_and_the_report_is_plain_json() -> None:
    train, fresh = synthetic_customers(5000, seed=0), synthetic_customers(5000, seed=1)
    fresh.loc[fresh.index[:1000], "age"] = np.nan
    report = drift_report(profile_of(train), fresh)
    age = by_column(report)["age"]
    assert age["missing_then"] == 0.0 and age["missing_now"] == pytest.approx(0.2)
    assert sum(b["reference"] for b in age["bins"]) == pytest.approx(1.0)
    assert sum(b["current"] for b in age["bins"]) == pytest.approx(1.0)
    json.dumps(report, allow_nan=False)


def test_a_table_without_the_model_columns_is_a_dataset_error() -> None:
    from adamant.exceptions import DatasetError

    train = synthetic_customers(500)
    with pytest.raises(DatasetError) as error:
        drift_report(profile_of(train), train.drop(columns=["age"]))
    assert error.value.column == "age"
