import numpy as np
import pandas as pd
import pytest

from adamant.exceptions import DatasetError
from adamant.preparation import prepare_training_data


def customers(target: list[object], rows: int = 40) -> pd.DataFrame:
    repeats = rows // len(target) + 1
    return pd.DataFrame({"age": np.arange(rows) % 37 + 20, "label": (target * repeats)[:rows]})


def test_single_class_target_is_refused(make_spec) -> None:
    with pytest.raises(DatasetError) as caught:
        prepare_training_data(make_spec(target="label"), customers(["no"]))

    assert caught.value.column == "label"
    assert str(caught.value) == (
        "Target column 'label' has only one class ('no'); binary_classification needs at least two (column 'label')"
    )


def test_non_numeric_regression_target_names_column_and_row(make_spec) -> None:
    frame = customers([10.5, 3.0])
    frame["label"] = frame["label"].astype(str)
    frame.loc[16, "label"] = "abc"  # position 16 is the 17th data row

    with pytest.raises(DatasetError) as caught:
        prepare_training_data(make_spec("regression", target="label"), frame)

    assert (caught.value.column, caught.value.row) == ("label", 17)
    assert "Column 'label' must hold numbers (it is the target); found 'abc' at row 17" in str(caught.value)
    assert "rows count from 1 at the first row after the header" in str(caught.value)


def test_missing_target_value_names_the_first_row(make_spec) -> None:
    frame = customers(["yes", "no"])
    frame.loc[[4, 9], "label"] = None

    with pytest.raises(DatasetError) as caught:
        prepare_training_data(make_spec(target="label"), frame)

    assert caught.value.row == 5
    assert str(caught.value).startswith("Target column 'label' has 2 missing values, the first at row 5")


def test_three_classes_are_not_binary(make_spec) -> None:
    expected = r"has 3 classes \(bronze, gold, silver\); binary_classification needs exactly two: use multiclass"
    with pytest.raises(DatasetError, match=expected):
        prepare_training_data(make_spec(target="label"), customers(["gold", "silver", "bronze"]))


def test_too_many_classes_for_multiclass(make_spec) -> None:
    frame = pd.DataFrame({"age": np.arange(1200) % 50, "label": [f"sku{i}" for i in range(1200)]})

    with pytest.raises(DatasetError, match="has 1200 distinct classes, more than 1000"):
        prepare_training_data(make_spec("multiclass_classification", target="label"), frame)


@pytest.mark.parametrize(
    ("labels", "positive"),
    [(["Yes", "No", "No"], "Yes"), ([False, True, True], True), ([1, 0, 0], 1), (["churn", "stay", "stay"], "churn")],
)
def test_positive_class_is_the_one_a_marketer_means(make_spec, labels: list[object], positive: object) -> None:
    prepared = prepare_training_data(make_spec(target="label"), customers(labels, rows=60))

    assert prepared.class_labels[1] == positive
    assert prepared.n_classes == 2
    assert prepared.y_train.dtype == np.float32
    assert set(np.unique(prepared.y_train)) == {0.0, 1.0}


def test_non_numeric_rating_names_the_row(make_spec) -> None:
    ratings = pd.DataFrame({"user": [1, 2, 3], "item": [7, 8, 9], "stars": ["4", "five", "3"]})
    spec = make_spec("recommendation", target="stars", user_column="user", item_column="item")

    with pytest.raises(DatasetError, match="Column 'stars' must hold numbers .* found 'five' at row 2"):
        prepare_training_data(spec, ratings)
