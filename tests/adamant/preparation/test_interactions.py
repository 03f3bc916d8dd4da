"""Preparing an implicit-feedback table (adamant/preparation/interactions.py): the held-out
interaction is each user's latest, weights and timestamps are checked cell by cell, and a spec
that mixes explicit and implicit settings is refused naming the field."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from adamant.exceptions import DatasetError
from adamant.preparation import prepare_training_data
from adamant.spec import JobSpec


def spec(**dataset: Any) -> JobSpec:
    return JobSpec.model_validate({
        "task": "recommendation",
        "dataset": {"ref": "file:t.csv", "user_column": "customer", "item_column": "sku", "feedback": "implicit", **dataset},
        "model": {"type": "matrix_factorization"},
    })


def purchases() -> pd.DataFrame:
    return pd.DataFrame({
        "customer": ["ann", "ann", "ann", "bob", "bob", "cy", "dee", "dee"],
        "sku": ["tea", "jam", "oat", "tea", "egg", "jam", "oat", "kiwi"],
        "bought": ["2026-01-03", "2026-01-01", "2026-02-01", "2026-01-05", "2026-01-04", "2026-01-01", "2026-01-01", "2026-03-01"],
        "qty": [1, 2, 1, 3, 1, 1, 2, 1],
    })


def test_each_customers_latest_purchase_is_held_out_and_single_buyers_only_train() -> None:
    data = prepare_training_data(spec(timestamp_column="bought", weight_column="qty"), purchases())
    held = purchases().iloc[data.val_rows]
    assert sorted(zip(held["customer"], held["sku"], strict=True)) == [("ann", "oat"), ("bob", "tea"), ("dee", "kiwi")]
    assert "cy" not in set(held["customer"])  # one purchase: it trains
    assert data.n_users == 4 and data.n_items == 4  # egg, jam, oat, tea: kiwi only ever held out
    assert data.cold_val_rows == 1  # dee's kiwi: no training row, so it can never be recommended
    assert data.y_train is None and data.weights_train.mean() == pytest.approx(1.0)
    train = purchases().iloc[data.train_rows]
    assert data.weights_train.tolist() == pytest.approx((train["qty"] / train["qty"].mean()).tolist())


def test_numeric_timestamps_and_no_timestamps_hold_out_one_interaction_per_customer() -> None:
    frame = purchases().assign(bought=[3, 1, 9, 5, 4, 1, 1, 7])
    data = prepare_training_data(spec(timestamp_column="bought"), frame)
    assert sorted(frame.iloc[data.val_rows]["sku"]) == ["kiwi", "oat", "tea"]
    random = prepare_training_data(spec(), frame)  # a seeded random one of each customer's rows
    assert sorted(frame.iloc[random.val_rows]["customer"]) == ["ann", "bob", "dee"]
    assert np.array_equal(random.val_rows, prepare_training_data(spec(), frame).val_rows)


@pytest.mark.parametrize(("column", "value", "fragment"), [
    ("qty", -1, "weight >= 0"),
    ("qty", "lots", "a weight"),
    ("bought", None, "missing timestamp"),
    ("bought", "soon", "must hold dates"),
    ("sku", None, "missing id"),
])
def test_a_bad_cell_is_named_by_column_and_row(column: str, value: object, fragment: str) -> None:
    frame = purchases().astype({column: object})
    frame.loc[4, column] = value
    with pytest.raises(DatasetError) as caught:
        prepare_training_data(spec(timestamp_column="bought", weight_column="qty"), frame)
    assert caught.value.column == column and fragment in str(caught.value)
    assert caught.value.row == 5  # the 5th data row (ROW_CONVENTION)


@pytest.mark.parametrize(("change", "field"), [
    ({"dataset": {"target": "qty"}}, "dataset.target"),
    ({"model": {"type": "matrix_factorization", "loss": "mse"}}, "model.loss"),
    ({"dataset": {"feedback": "explicit", "target": "qty"}, "model": {"type": "matrix_factorization", "loss": "bpr"}}, "model.loss"),
    ({"dataset": {"feedback": "explicit", "target": "qty", "timestamp_column": "bought"}}, "dataset.timestamp_column"),
    ({"dataset": {"feedback": "explicit", "target": "qty"}, "model": {"type": "matrix_factorization", "negatives": 5}}, "model.negatives"),
    ({"training": {"monitor": "val_rmse"}}, "training.monitor"),
])
def test_settings_of_the_other_kind_of_feedback_are_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    document: dict[str, Any] = {
        "task": "recommendation",
        "dataset": {"ref": "file:t.csv", "user_column": "customer", "item_column": "sku", "feedback": "implicit"},
        "model": {"type": "matrix_factorization"},
    }
    for key, value in change.items():
        document[key] = {**document.get(key, {}), **value}
    with pytest.raises(ValidationError) as caught:
        JobSpec.model_validate(document)
    assert field in {".".join(str(part) for part in error["loc"]) for error in caught.value.errors()}


def test_an_implicit_spec_monitors_ndcg_and_accepts_the_ranking_metrics() -> None:
    assert spec().monitor == ("val_ndcg_10", "max")
    assert JobSpec.model_validate({**spec().model_dump(), "training": {"monitor": "val_popularity_bias_10"}}).monitor == (
        "val_popularity_bias_10", "min")
