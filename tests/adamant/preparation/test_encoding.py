"""The compact encoding: what training keeps of a table instead of its feature matrix."""

import numpy as np
import pandas as pd

from adamant.preparation import PreparedData, prepare_training_data
from adamant.preparation.preprocessing import MISSING_LEVEL, OTHER_LEVEL


def test_a_prepared_table_is_held_compactly_and_expands_to_every_feature(bank_prepared: PreparedData) -> None:
    data = bank_prepared
    per_row = data.train.nbytes / len(data.train_rows)
    wide = 4 * data.n_features  # what the float32 feature matrix holds a row

    assert data.numbers_train.dtype == np.float32 and data.codes_train.dtype == np.int16
    assert per_row <= wide / 4, (per_row, wide)
    assert data.x_train.shape == (len(data.train_rows), data.n_features)
    assert data.x_train.dtype == np.float32


def test_expanding_the_encoding_gives_what_the_dense_rules_give(bank: pd.DataFrame, bank_prepared: PreparedData) -> None:
    """Each feature column, recomputed from its documented rule on the raw cells, matches."""
    data, names = bank_prepared, bank_prepared.feature_names
    x = data.x_val
    raw = bank.iloc[data.val_rows].reset_index(drop=True)
    pdays = raw["pdays"].to_numpy()

    np.testing.assert_array_equal(x[:, names.index("pdays__is_999")], (pdays == 999).astype(np.float32))
    for level in ("admin.", "blue-collar", "unknown"):
        np.testing.assert_array_equal(x[:, names.index(f"job={level}")], (raw["job"] == level).to_numpy(np.float32))
    rates = [name for name in names if name.startswith("emp.var.rate==")]
    assert rates and (x[:, [names.index(name) for name in rates]].sum(axis=1) == 1).all()
    bins = x[:, [i for i, name in enumerate(names) if name.startswith("age~bin")]]
    assert bins.min() >= 0.0 and bins.max() <= 1.0
    # a piecewise-linear code: full bins, then the one the value is in, then empty ones
    assert (np.diff(bins, axis=1) <= 0).all()


def test_collapsed_every_level_of_a_column_with_many_maps_to_its_one_hot_or_to_other(make_spec) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "region": [f"r{i}" for i in rng.integers(0, 80, 4_000)],
        "x": rng.normal(size=4_000),
        "y": rng.integers(0, 2, 4_000),
    })
    frame.loc[::7, "region"] = None
    data = prepare_training_data(make_spec(target="y", high_cardinality="collapse"), frame)
    feature = data.preprocessing.features[0]
    x = data.x_train
    block = x[:, [i for i, name in enumerate(data.feature_names) if name.startswith("region=")]]

    assert feature.levels[-1] == OTHER_LEVEL and MISSING_LEVEL in feature.levels
    assert (block.sum(axis=1) == 1).all()  # every row lights exactly one level, rare ones __other__
    kept = set(feature.levels) - {OTHER_LEVEL, MISSING_LEVEL}
    region = frame["region"].iloc[data.train_rows].to_numpy()
    rare = np.array([not pd.isna(value) and value not in kept for value in region])
    other = block[:, feature.levels.index(OTHER_LEVEL)]
    np.testing.assert_array_equal(other == 1, rare)


def test_text_read_as_categories_prepares_the_same_arrays_as_text(bank: pd.DataFrame, tmp_path, make_spec) -> None:  # type: ignore[no-untyped-def]
    from adamant.datasets import read_table

    path = tmp_path / "bank.parquet"
    bank.to_parquet(path, row_group_size=10_000)
    as_text = read_table(path)
    as_categories = read_table(path, text_as_categories=True)
    spec = make_spec(target="y", drop=["duration"])
    plain, coded = prepare_training_data(spec, as_text), prepare_training_data(spec, as_categories)

    assert isinstance(as_categories["job"].dtype, pd.CategoricalDtype) and not isinstance(as_text["job"].dtype, pd.CategoricalDtype)
    assert as_categories.memory_usage(deep=True).sum() < as_text.memory_usage(deep=True).sum() / 2
    assert coded.feature_names == plain.feature_names
    for name in ("numbers_train", "codes_train", "y_train", "numbers_val", "codes_val", "y_val", "train_rows"):
        np.testing.assert_array_equal(getattr(coded, name), getattr(plain, name), err_msg=name)
    assert coded.preprocessing.to_dict() == plain.preprocessing.to_dict()
