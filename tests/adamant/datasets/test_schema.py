import json

import numpy as np
import pandas as pd

from adamant.datasets import get_builtin
from adamant.datasets.schema import column_kind, describe_table


def test_describe_bank_marketing_is_json_safe_and_typed() -> None:
    description = describe_table(get_builtin("bank-marketing").load(), rows=5)

    json.dumps(description, allow_nan=False)
    columns = {column["name"]: column for column in description["columns"]}
    assert description["rows"] == 41_188
    assert len(description["preview"]) == 5 and len(description["preview"][0]) == 21
    assert columns["age"] == {
        "name": "age", "kind": "numeric", "dtype": "int64", "missing": 0, "distinct": 78,
        "min": 17, "max": 98, "mean": columns["age"]["mean"],
    }
    assert columns["y"]["kind"] == "categorical"
    assert columns["y"]["top"] == [{"value": "no", "count": 36_548}, {"value": "yes", "count": 4_640}]


def test_describe_turns_missing_and_dates_into_json() -> None:
    frame = pd.DataFrame(
        {
            "spend": [1.5, np.nan, np.inf],
            "seen": pd.to_datetime(["2024-01-01", None, "2024-03-01"]),
            "segment": ["a", None, "b"],
        }
    )

    description = describe_table(frame)

    json.dumps(description, allow_nan=False)
    assert description["preview"][1] == [None, None, None]
    assert description["preview"][0][1] == "2024-01-01T00:00:00"
    seen = description["columns"][1]
    assert (seen["kind"], seen["missing"], seen["min"]) == ("datetime", 1, "2024-01-01T00:00:00")


def test_kinds_a_user_would_expect() -> None:
    rows = 30
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(rows)],
            "store_id": [i % 3 for i in range(rows)],
            "email": [f"user{i}@example.com" for i in range(rows)],
            "visits": [i % 4 for i in range(rows)],
            "opted_in": ["True", "False", None] * 10,
            "signup": ["2024-01-0" + str(1 + i % 9) for i in range(rows)],
        }
    )

    kinds = {name: column_kind(frame[name]) for name in frame.columns}

    assert kinds == {
        "customer_id": "id",
        "store_id": "categorical",
        "email": "id",
        "visits": "numeric",
        "opted_in": "boolean",
        "signup": "datetime",
    }
