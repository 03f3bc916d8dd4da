"""CDNOW purchases: the raw transactions and the per-customer tables built from them.

The customers are the cohort that first bought in January-March 1997; the data runs to the end
of June 1998. The usual split (Fader, Hardie and Lee, 2005) describes each customer by the
first 39 weeks, the calibration period 1997-01-01..1997-09-30, and judges forecasts on what
the customer spent afterwards, 1997-10-01..1998-06-30.

Definitions, chosen so the table reads the same to a marketer and to a model:
- A purchase is a purchase *day*: the file holds several rows for a customer on one date when
  an order was split, and those count once (their dollar values add up).
- frequency: the number of distinct purchase days in the calibration period, the first one
  included, so every customer has frequency >= 1. (The "repeat purchases" count of BG/NBD
  models such as lifetimes' `frequency` is this minus 1.)
- monetary: mean spend per purchase day (total_spend / frequency), first purchase included.
- recency_days: days from the last purchase to the calibration end (0 = bought on the last day).
- tenure_days: days from the first purchase to the calibration end.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from adamant.datasets.readers import read_table

CDNOW_FILE = Path(__file__).parent / "builtin" / "cdnow" / "CDNOW_master.txt"
CALIBRATION_START = pd.Timestamp("1997-01-01")
CALIBRATION_END = pd.Timestamp("1997-09-30")
HOLDOUT_START = pd.Timestamp("1997-10-01")
HOLDOUT_END = pd.Timestamp("1998-06-30")

RFM_COLUMNS = ("customer_id", "recency_days", "frequency", "monetary", "total_spend", "tenure_days")


def load_transactions(path: Path = CDNOW_FILE) -> pd.DataFrame:
    """customer_id (zero-padded text, as in the file), date, number_of_cds, dollar_value."""
    raw = read_table(path, format="whitespace")
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "date": pd.to_datetime(raw["date"].astype(str), format="%Y%m%d"),
            "number_of_cds": raw["number_of_cds"],
            "dollar_value": raw["dollar_value"],
        }
    )


def rfm_table(transactions: pd.DataFrame, calibration_end: pd.Timestamp | str = CALIBRATION_END) -> pd.DataFrame:
    """One row per customer who bought on or before `calibration_end`, sorted by customer_id.

    Needs columns customer_id, date (datetime) and dollar_value; see the module's definitions.
    """
    end = pd.Timestamp(calibration_end)
    seen = transactions.loc[transactions["date"] <= end, ["customer_id", "date", "dollar_value"]]
    days = seen.groupby(["customer_id", "date"], as_index=False, sort=True)["dollar_value"].sum()
    customers = days.groupby("customer_id", sort=True).agg(
        first=("date", "min"),
        last=("date", "max"),
        frequency=("date", "size"),
        total_spend=("dollar_value", "sum"),
    )
    total_spend = customers["total_spend"].round(2)  # sums of cents; drop the float noise
    return pd.DataFrame(
        {
            "customer_id": customers.index.to_numpy(),
            "recency_days": (end - customers["last"]).dt.days.to_numpy(),
            "frequency": customers["frequency"].to_numpy(),
            "monetary": (total_spend / customers["frequency"]).to_numpy(),
            "total_spend": total_spend.to_numpy(),
            "tenure_days": (end - customers["first"]).dt.days.to_numpy(),
        }
    )


def future_spend(
    transactions: pd.DataFrame,
    start: pd.Timestamp | str = HOLDOUT_START,
    end: pd.Timestamp | str | None = None,
) -> pd.Series:
    """Dollars each customer spent from `start` to `end` (inclusive; None = the end of the data).

    Indexed by customer_id over every customer in `transactions`; 0 for those who bought nothing.
    """
    dates = transactions["date"]
    window = dates >= pd.Timestamp(start)
    if end is not None:
        window &= dates <= pd.Timestamp(end)
    customers = pd.Index(transactions["customer_id"].unique()).sort_values()
    spend = transactions.loc[window].groupby("customer_id")["dollar_value"].sum()
    return spend.reindex(customers, fill_value=0.0).round(2).rename("future_spend").rename_axis("customer_id")


def spend_table(transactions: pd.DataFrame) -> pd.DataFrame:
    """The calibration RFM features of every customer plus `future_spend` after the calibration end."""
    features = rfm_table(transactions, CALIBRATION_END)
    target = future_spend(transactions, HOLDOUT_START)
    return features.assign(future_spend=target.reindex(features["customer_id"]).to_numpy())
