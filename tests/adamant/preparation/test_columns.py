import pandas as pd
import pytest

from adamant.exceptions import DatasetError
from adamant.preparation import prepare_training_data, select_columns

CUSTOMERS = pd.DataFrame(
    {
        "customer_id": [f"C{i:03d}" for i in range(40)],
        "country": ["PT"] * 40,
        "age": list(range(20, 60)),
        "plan": ["basic", "pro"] * 20,
        "churned": ["no", "yes", "no", "no"] * 10,
    }
)


def test_unknown_feature_suggests_the_closest_name(make_spec) -> None:
    spec = make_spec(target="churned", features=["agee", "plan"])

    with pytest.raises(DatasetError) as caught:
        select_columns(spec.task, spec.dataset, CUSTOMERS)

    assert caught.value.column == "agee"
    assert str(caught.value) == (
        "Column 'agee' in dataset.features is not in the table (did you mean 'age'?). "
        "Its columns: customer_id, country, age, plan, churned (column 'agee')"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("drop", ["Plan"]), ("id_column", "customerid"), ("target", "churn")],
)
def test_every_named_column_is_checked(make_spec, field: str, value: object) -> None:
    dataset = {"target": "churned", field: value}
    spec = make_spec(**dataset)
    name = value[0] if isinstance(value, list) else value

    with pytest.raises(DatasetError, match=rf"Column '{name}' in dataset.{field} is not in the table \(did you mean"):
        select_columns(spec.task, spec.dataset, CUSTOMERS)


def test_missing_target_column_lists_the_columns(make_spec, bank) -> None:
    spec = make_spec(target="subscribed")

    expected = r"Column 'subscribed' in dataset.target is not in the table. Its columns: age, job"
    with pytest.raises(DatasetError, match=expected):
        prepare_training_data(spec, bank)


def test_default_features_leave_out_ids_and_constants(make_spec) -> None:
    spec = make_spec(target="churned")

    selection = select_columns(spec.task, spec.dataset, CUSTOMERS)

    assert selection.features == ("age", "plan")
    assert selection.excluded == {
        "customer_id": (
            "looks like an identifier; set it as dataset.id_column, or list it in dataset.features to learn from it"
        ),
        "country": "holds a single value",
    }


def test_id_column_is_carried_not_learnt(make_spec) -> None:
    spec = make_spec(target="churned", id_column="customer_id")

    selection = select_columns(spec.task, spec.dataset, CUSTOMERS)

    assert selection.id_column == "customer_id" and "customer_id" not in selection.features
    assert selection.excluded == {"country": "holds a single value"}


def test_target_in_drop_is_refused(make_spec) -> None:
    spec = make_spec(target="churned", drop=["churned"])

    with pytest.raises(DatasetError, match="Column 'churned' is the target and is also in dataset.drop"):
        select_columns(spec.task, spec.dataset, CUSTOMERS)


def test_feature_list_that_ends_up_empty_is_refused(make_spec) -> None:
    spec = make_spec(target="churned", drop=["age", "plan"])

    with pytest.raises(DatasetError) as caught:
        select_columns(spec.task, spec.dataset, CUSTOMERS)

    assert str(caught.value).startswith("No feature columns are left to learn from (left out: customer_id: looks like")
    assert str(caught.value).endswith("; list them in dataset.features")


def test_empty_table_is_refused(make_spec) -> None:
    spec = make_spec(target="churned")

    with pytest.raises(DatasetError, match="The table has no rows"):
        prepare_training_data(spec, CUSTOMERS.iloc[:0])


def test_recommendation_refuses_side_features(make_spec) -> None:
    ratings = pd.DataFrame({"user": [1, 2], "item": [5, 6], "stars": [4, 3], "genre": ["a", "b"]})
    spec = make_spec("recommendation", target="stars", user_column="user", item_column="item", features=["genre"])

    with pytest.raises(DatasetError, match=r"the user, item and rating \(or timestamp and weight\) columns only; remove dataset.features"):
        select_columns(spec.task, spec.dataset, ratings)
