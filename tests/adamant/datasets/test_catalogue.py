import numpy as np
import pandas as pd
import pytest

from adamant.datasets import BUILTIN, future_spend, get_builtin, rfm_table
from adamant.datasets.cdnow import CALIBRATION_END, HOLDOUT_START
from adamant.exceptions import DatasetError


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return get_builtin("cdnow-transactions").load()


def test_bank_marketing_loads_as_shipped() -> None:
    dataset = get_builtin("bank-marketing")

    frame = dataset.load()

    assert frame.shape == (41_188, 21) == (dataset.rows, 21)
    assert dataset.target == "y" and dataset.drop == ("duration",)
    assert "known only after the call" in dataset.description
    assert dataset.dataset_spec().ref == "builtin:bank-marketing"


def test_loaded_frames_are_independent() -> None:
    first = get_builtin("bank-marketing").load()
    first.loc[0, "age"] = -1

    assert get_builtin("bank-marketing").load().loc[0, "age"] == 56


def test_cdnow_transactions_have_real_dates(transactions: pd.DataFrame) -> None:
    assert transactions.shape == (69_659, 4)
    assert transactions["date"].dtype.kind == "M"
    assert transactions["date"].min() == pd.Timestamp("1997-01-01")
    assert transactions["date"].max() == pd.Timestamp("1998-06-30")
    assert transactions["customer_id"].nunique() == 23_570


def test_rfm_table_has_every_customer(transactions: pd.DataFrame) -> None:
    rfm = get_builtin("cdnow-rfm").load()

    assert len(rfm) == 23_570 == rfm["customer_id"].nunique()
    assert list(rfm.columns) == ["customer_id", "recency_days", "frequency", "monetary", "total_spend", "tenure_days"]
    assert (rfm["frequency"] >= 1).all()
    assert rfm["recency_days"].between(0, 272).all()
    assert (rfm["tenure_days"] >= rfm["recency_days"]).all()
    np.testing.assert_allclose(rfm["monetary"] * rfm["frequency"], rfm["total_spend"])


def test_rfm_counts_purchase_days(transactions: pd.DataFrame) -> None:
    # Customer 00002 bought twice on 1997-01-12 (two rows): one purchase day of $89.
    rfm = rfm_table(transactions, CALIBRATION_END).set_index("customer_id")

    assert rfm.loc["00002"].to_dict() == {
        "recency_days": 261, "frequency": 1, "monetary": 89.0, "total_spend": 89.0, "tenure_days": 261,
    }


def test_future_spend_matches_a_direct_computation(transactions: pd.DataFrame) -> None:
    spend = future_spend(transactions, HOLDOUT_START)

    assert len(spend) == 23_570 and (spend >= 0).all()
    for customer in ["00001", "00003", "00157", "23570"]:
        mine = transactions[(transactions["customer_id"] == customer) & (transactions["date"] >= "1997-10-01")]
        assert spend[customer] == pytest.approx(mine["dollar_value"].sum())


def test_cdnow_spend_joins_features_and_target() -> None:
    table = get_builtin("cdnow-spend").load()
    rfm = get_builtin("cdnow-rfm").load()

    assert get_builtin("cdnow-spend").target == "future_spend"
    pd.testing.assert_frame_equal(table.drop(columns="future_spend"), rfm)
    assert (table["future_spend"] == 0).mean() > 0.5  # most customers never come back


def test_unknown_builtin_lists_the_known_names() -> None:
    with pytest.raises(DatasetError) as caught:
        get_builtin("bank-marketting")

    assert str(caught.value) == (
        "Unknown built-in dataset 'bank-marketting'; did you mean 'bank-marketing'? known: "
        + ", ".join(sorted(BUILTIN))
    )
