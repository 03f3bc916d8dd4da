import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from adamant.exceptions import DatasetError
from adamant.monitoring.profile import reference_profile
from adamant.preparation import Preprocessing, prepare_training_data
from adamant.preparation import preprocessing as preprocessing_module
from adamant.preparation.preprocessing import EmbeddedFeature, embedding_dim


def test_saved_preprocessing_reproduces_training_bit_for_bit(bank, bank_prepared) -> None:
    saved = json.dumps(bank_prepared.preprocessing.to_dict(), allow_nan=False)
    loaded = Preprocessing.from_dict(json.loads(saved))

    train = loaded.transform(bank.iloc[bank_prepared.train_rows], row_numbers=bank_prepared.train_rows + 1)
    validation = loaded.transform(bank.iloc[bank_prepared.val_rows].drop(columns="y"))

    assert train.x.dtype == np.float32
    assert train.x.tobytes() == bank_prepared.x_train.tobytes()
    assert train.y.tobytes() == bank_prepared.y_train.tobytes()
    assert validation.x.tobytes() == bank_prepared.x_val.tobytes()
    assert validation.y is None  # rows without the target are fine at prediction
    assert loaded.feature_names == bank_prepared.feature_names


def test_preprocessing_is_fitted_on_training_rows_only(make_spec, bank, bank_prepared) -> None:
    changed = bank.copy()
    validation = bank_prepared.val_rows
    changed.loc[validation, "age"] = 99
    changed.loc[validation, "job"] = "astronaut"
    spec = make_spec(ref="builtin:bank-marketing", target="y", drop=["duration"])

    refitted = prepare_training_data(spec, changed)

    assert refitted.preprocessing.to_dict() == bank_prepared.preprocessing.to_dict()
    np.testing.assert_array_equal(refitted.x_train, bank_prepared.x_train)


def test_pdays_999_becomes_an_indicator(bank, bank_prepared) -> None:
    names = bank_prepared.feature_names
    pdays = next(feature for feature in bank_prepared.preprocessing.features if feature.column == "pdays")
    indicator = bank_prepared.x_train[:, names.index("pdays__is_999")]
    not_contacted = bank["pdays"].to_numpy()[bank_prepared.train_rows] == 999

    assert pdays.sentinel == 999
    np.testing.assert_array_equal(indicator, not_contacted.astype(np.float32))
    scaled = bank_prepared.x_train[:, names.index("pdays")]
    assert np.abs(scaled).max() < 10  # 999 no longer dwarfs the real day counts


def test_categories_are_one_hot_and_unknown_is_a_level(bank_prepared) -> None:
    names = bank_prepared.feature_names

    assert "job=admin." in names and "default=unknown" in names
    job = bank_prepared.x_train[:, [i for i, name in enumerate(names) if name.startswith("job=")]]
    np.testing.assert_array_equal(job.sum(axis=1), 1.0)


def test_bank_marketing_features_support_a_good_linear_model(bank_prepared) -> None:
    model = LogisticRegression(max_iter=1000).fit(bank_prepared.x_train, bank_prepared.y_train)

    auc = roc_auc_score(bank_prepared.y_val, model.predict_proba(bank_prepared.x_val)[:, 1])

    assert "duration" not in bank_prepared.feature_names
    assert auc >= 0.78


def test_unseen_category_at_prediction_sets_no_level(bank, bank_prepared) -> None:
    rows = bank.iloc[:2].copy()
    rows["job"] = ["astronaut", "admin."]

    x = bank_prepared.preprocessing.transform(rows).x
    job = [i for i, name in enumerate(bank_prepared.feature_names) if name.startswith("job=")]

    assert x[0, job].sum() == 0.0
    assert x[1, bank_prepared.feature_names.index("job=admin.")] == 1.0


def test_collapsed_rare_levels_share_an_other_column_that_takes_unseen_ones(make_spec) -> None:
    cities = [f"city{i:02d}" for i in range(60)]
    frame = pd.DataFrame({"city": cities * 5, "bought": ["yes", "no"] * 150})
    spec = make_spec(target="bought", validation={"fraction": 0.2}, high_cardinality="collapse")
    prepared = prepare_training_data(spec, frame)
    names = prepared.feature_names

    x = prepared.preprocessing.transform(pd.DataFrame({"city": ["Atlantis"]})).x

    assert len(names) == 51 and names[-1] == "city=__other__"
    assert x[0, -1] == 1.0 and x.sum() == 1.0


def test_missing_feature_column_at_prediction_is_named(bank, bank_prepared) -> None:
    rows = bank.iloc[:3].drop(columns=["age", "euribor3m"])

    with pytest.raises(DatasetError) as caught:
        bank_prepared.preprocessing.transform(rows)

    assert caught.value.column == "age"
    assert "lack the column(s) the model was trained on: age, euribor3m" in str(caught.value)


def test_text_in_a_numeric_column_at_prediction_names_the_row(bank, bank_prepared) -> None:
    rows = bank.iloc[:3].astype({"age": object})
    rows.iloc[2, rows.columns.get_loc("age")] = "forty"

    with pytest.raises(DatasetError) as caught:
        bank_prepared.preprocessing.transform(rows)

    assert (caught.value.column, caught.value.row) == ("age", 3)
    assert "Column 'age' must hold a number; found 'forty' at row 3" in str(caught.value)


def test_missing_numbers_get_the_median_and_an_indicator(make_spec) -> None:
    spend = [1.0, 2.0, 3.0, np.nan, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0] * 4
    frame = pd.DataFrame({"spend": spend, "bought": ["yes", "no"] * 20})
    prepared = prepare_training_data(make_spec(target="bought"), frame)
    feature = prepared.preprocessing.features[0]

    x = prepared.preprocessing.transform(pd.DataFrame({"spend": [np.nan, 5.0]})).x

    assert prepared.feature_names[:2] == ["spend", "spend__missing"]
    assert x[0, 1] == 1.0 and x[1, 1] == 0.0
    assert x[0, 0] == np.float32((feature.median - feature.mean) / feature.std)


def test_skewed_spend_is_log_scaled(make_spec) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"spend": rng.lognormal(3, 1.5, 400), "age": rng.normal(40, 10, 400), "bought": ["yes", "no"] * 200}
    )

    prepared = prepare_training_data(make_spec(target="bought"), frame)
    features = {feature.column: feature for feature in prepared.preprocessing.features}

    assert features["spend"].log is True
    assert features["age"].log is False


def test_labelled_rows_get_their_encoded_target(bank, bank_prepared) -> None:
    rows = bank.iloc[[0, 75]]  # row 76 subscribed

    prepared = bank_prepared.preprocessing.transform(rows)

    np.testing.assert_array_equal(prepared.y, np.array([0.0, 1.0], dtype=np.float32))
    np.testing.assert_array_equal(prepared.ids, [1, 2])


def test_few_valued_numbers_also_get_one_indicator_per_value(bank_prepared) -> None:
    names = bank_prepared.feature_names
    employed = [name for name in names if name.startswith("nr.employed==")]
    features = {feature.column: feature for feature in bank_prepared.preprocessing.features}

    unseen = bank_prepared.preprocessing.transform(
        pd.DataFrame([{**{c: None for c in bank_prepared.preprocessing.input_columns}, "nr.employed": 1234.5}])
    ).x[0]

    assert len(employed) == len(features["nr.employed"].values) >= 3
    assert not any(name.startswith("age==") for name in names)  # 78 distinct ages stay a scale
    assert unseen[[names.index(name) for name in employed]].sum() == 0.0


def test_a_column_with_many_levels_is_embedded_with_every_level_that_has_rows_enough(make_spec) -> None:
    rng = np.random.default_rng(0)
    cities = np.array([f"city{i:03d}" for i in range(300)])
    frame = pd.DataFrame({"city": cities[rng.integers(0, 300, 6_000)], "bought": rng.integers(0, 2, 6_000)})
    frame.loc[:3, "city"] = "Eldorado"  # 4 rows, fewer than EMBED_MIN_ROWS: shares row 0
    prepared = prepare_training_data(make_spec(target="bought"), frame)
    feature = prepared.preprocessing.features[0]

    assert isinstance(feature, EmbeddedFeature) and feature.dim == embedding_dim(300) == 16
    assert feature.levels == sorted(cities) and prepared.feature_names == []
    assert prepared.preprocessing.embeddings == ((301, 16),)
    rows = prepared.preprocessing.transform(pd.DataFrame({"city": ["city007", "Atlantis", "Eldorado", "city299"]}))
    np.testing.assert_array_equal(rows.embedded[:, 0], [8, 0, 0, 300])
    train_cities = frame["city"].iloc[prepared.train_rows].to_numpy()
    expected = [feature.levels.index(c) + 1 if c in feature.levels else 0 for c in train_cities]
    np.testing.assert_array_equal(prepared.embedded_train[:, 0], expected)
    restored = Preprocessing.from_dict(json.loads(json.dumps(prepared.preprocessing.to_dict())))
    assert restored.features[0] == feature


def test_a_category_no_row_holds_is_no_level_and_no_class(make_spec) -> None:
    """A categorical read from Parquet may carry dictionary values no row uses (a filtered export):
    they make no one-hot level, no class and no share in the reference profile."""
    city = pd.Categorical(["paris", "lyon"] * 50, categories=["lyon", "paris", "atlantis"])
    bought = pd.Categorical(["yes", "no", "no", "no"] * 25, categories=["no", "yes", "maybe"])
    frame = pd.DataFrame({"city": city, "bought": bought})
    prepared = prepare_training_data(make_spec(target="bought", validation={"fraction": 0.2}), frame)

    assert prepared.feature_names == ["city=lyon", "city=paris"]
    assert prepared.class_labels == ["no", "yes"]
    profile = reference_profile(frame, prepared.preprocessing)
    assert "atlantis" not in json.dumps(profile)


def test_a_large_frame_encoded_in_threads_gives_the_same_rows_and_names_the_first_bad_column(
    bank, bank_prepared, monkeypatch
) -> None:
    preprocessing = bank_prepared.preprocessing
    halves = [np.arange(0, len(bank), 2), np.arange(1, len(bank), 2)]
    monkeypatch.setattr(preprocessing_module, "THREADED_FROM_ROWS", 10**12)
    alone = preprocessing.encode(bank, halves)
    monkeypatch.setattr(preprocessing_module, "THREADED_FROM_ROWS", 1)
    threaded = preprocessing.encode(bank, halves)
    for ours, theirs in zip(threaded, alone, strict=True):
        for name in ("numbers", "codes", "embedded"):
            np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name))

    broken = bank.astype({"age": object, "campaign": object})
    broken.iloc[7, broken.columns.get_loc("campaign")] = "many"
    broken.iloc[9, broken.columns.get_loc("age")] = "forty"
    with pytest.raises(DatasetError) as caught:  # both fail; the first feature's error, as one thread would give it
        preprocessing.encode(broken, halves)
    assert (caught.value.column, caught.value.row) == ("age", 10)
