import json

import numpy as np
import pandas as pd

from adamant.datasets import get_builtin
from adamant.preparation import Preprocessing, prepare_training_data


def test_bank_marketing_is_split_stratified_and_labelled(bank_prepared) -> None:
    prepared = bank_prepared

    assert prepared.x_train.shape == (32_950, len(prepared.feature_names))
    assert prepared.x_val.shape[0] == 8_238
    assert prepared.class_labels == ["no", "yes"]
    assert abs(prepared.y_train.mean() - prepared.y_val.mean()) < 1e-3
    np.testing.assert_array_equal(prepared.ids_val, prepared.val_rows + 1)  # no id column: row numbers


def test_recommendation_maps_ids_and_marks_cold_rows(make_spec, movielens) -> None:
    spec = make_spec("recommendation", target="rating", user_column="user_id", item_column="item_id")

    prepared = prepare_training_data(spec, movielens)

    assert prepared.x_train.shape == (80_000, 0)
    assert prepared.y_train.dtype == np.float32 and prepared.y_val.shape == (20_000,)
    assert prepared.n_users == 943 and 1_600 < prepared.n_items <= 1_682
    assert (prepared.rating_min, prepared.rating_max) == (1.0, 5.0)
    assert abs(prepared.rating_mean - 3.53) < 0.01
    assert prepared.user_idx_train.min() == 1 and prepared.item_idx_train.max() == prepared.n_items
    cold = (prepared.user_idx_val == 0) | (prepared.item_idx_val == 0)
    assert prepared.cold_val_rows == int(cold.sum()) > 0
    users = prepared.preprocessing.users
    assert users.ids[prepared.user_idx_train[0] - 1] == movielens["user_id"].iloc[prepared.train_rows[0]]


def test_recommendation_prediction_sends_unknown_ids_to_zero(make_spec, movielens) -> None:
    spec = make_spec("recommendation", target="rating", user_column="user_id", item_column="item_id")
    preprocessing = prepare_training_data(spec, movielens.iloc[:5000]).preprocessing
    loaded = Preprocessing.from_dict(json.loads(json.dumps(preprocessing.to_dict())))

    rows = loaded.transform(pd.DataFrame({"user_id": ["196", 99_999], "item_id": [242, 242]}))

    assert rows.user_idx[1] == 0 and rows.user_idx[0] == preprocessing.users.ids.index(196) + 1
    assert rows.y is None


def test_segmentation_keeps_customer_ids(make_spec) -> None:
    rfm = get_builtin("cdnow-rfm").load()

    prepared = prepare_training_data(make_spec("segmentation", id_column="customer_id"), rfm)

    assert prepared.y_train is None and prepared.n_classes is None
    assert prepared.feature_names == ["recency_days", "frequency", "monetary", "total_spend", "tenure_days"]
    assert list(prepared.ids_train[:2]) == list(rfm["customer_id"].iloc[prepared.train_rows[:2]])
    logged = {feature.column for feature in prepared.preprocessing.features if feature.log}
    assert {"frequency", "monetary", "total_spend"} <= logged


def test_regression_target_is_standardized_and_decodes_back(make_spec) -> None:
    spend = get_builtin("cdnow-spend").load()

    prepared = prepare_training_data(make_spec("regression", target="future_spend", id_column="customer_id"), spend)

    assert abs(float(prepared.y_train.mean())) < 1e-4 and abs(float(prepared.y_train.std()) - 1) < 1e-4
    decoded = prepared.preprocessing.target.decode(prepared.y_val)
    np.testing.assert_allclose(decoded, spend["future_spend"].to_numpy()[prepared.val_rows], atol=1e-3)


def test_multiclass_target_is_class_indices(make_spec, bank) -> None:
    prepared = prepare_training_data(make_spec("multiclass_classification", target="marital", drop=["duration"]), bank)

    assert prepared.y_train.dtype == np.int64
    assert prepared.class_labels == ["divorced", "married", "single", "unknown"]
    decoded = prepared.preprocessing.target.decode(prepared.y_val[:3])
    assert decoded.tolist() == bank["marital"].iloc[prepared.val_rows[:3]].tolist()


def test_a_large_training_split_fits_numeric_statistics_on_a_seeded_sample_and_counts_levels_in_full(
    make_spec, monkeypatch
) -> None:
    from adamant.preparation import prepare as prepare_module
    from adamant.preparation.preprocessing import CategoricalFeature, NumericFeature

    monkeypatch.setattr(prepare_module, "FIT_SAMPLE_ROWS", 1_000)
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({
        "spend": rng.lognormal(3.0, 1.0, 6_000),
        "channel": rng.choice(["web", "store", "phone"], 6_000),
        "y": rng.integers(0, 2, 6_000),
    })
    spec = make_spec(target="y")
    data = prepare_training_data(spec, frame)
    again = prepare_training_data(spec, frame)
    spend, channel = data.preprocessing.features

    assert data.fit_rows is not None and len(data.fit_rows) == 1_000
    assert np.isin(data.fit_rows, data.train_rows).all() and (np.diff(data.fit_rows) > 0).all()
    np.testing.assert_array_equal(data.fit_rows, again.fit_rows)  # the split's seed: the same sample
    sampled = NumericFeature.fit(frame["spend"].take(data.fit_rows), data.fit_rows + 1)
    everyone = NumericFeature.fit(frame["spend"].take(data.train_rows), data.train_rows + 1)
    assert spend == sampled and spend.median != everyone.median
    assert channel == CategoricalFeature.fit(frame["channel"].take(data.train_rows))
    assert len(data.numbers_train) == len(data.train_rows)  # every training row is still encoded

    monkeypatch.setattr(prepare_module, "FIT_SAMPLE_ROWS", 1_000_000)
    assert prepare_training_data(spec, frame).fit_rows is None
