"""What a table holds, column by column: the kind of each column and a JSON-safe summary.

`column_kind` is the one place kinds are decided; the service shows them (describe_table) and
the worker's preprocessing encodes by them, so what a user sees is what training does.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Literal

import numpy as np
import pandas as pd

Kind = Literal["numeric", "categorical", "boolean", "datetime", "id"]

TOP_VALUES = 5
# One-hot encoding keeps this many levels of a category (the rest share one column); a column
# named like an identifier with more distinct values than this is an identifier.
MAX_CATEGORY_LEVELS = 50
# A text column needs this many rows before "every value distinct" says identifier.
_MIN_ROWS_FOR_ID = 20
_ID_WORDS = {"id", "uuid", "guid", "key"}
_ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?"


def column_kind(column: pd.Series) -> Kind:
    """numeric, categorical, boolean, datetime or id (an identifier: a label, not a quantity).

    An identifier is a column named like one (customer_id, userId, ID, key) with more distinct
    values than a category keeps (or mostly distinct ones), or a text column whose every value
    is distinct. A column named like an identifier with few values (store_id) is a category,
    even when its values are integers. Numbers that are not named like an
    identifier stay numeric, however few their distinct values.
    """
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    present = column.dropna()
    named_id = _named_like_id(column.name)
    if pd.api.types.is_numeric_dtype(dtype):
        if named_id and pd.api.types.is_integer_dtype(dtype):
            return "id" if _many_distinct(present) else "categorical"
        return "numeric"
    if len(present) and _all_booleans(present):
        return "boolean"
    if len(present) and _all_iso_dates(present):
        return "datetime"
    if len(present) and all(isinstance(value, (dt.date, pd.Timestamp)) for value in present.head(100)):
        return "datetime"
    if named_id and _many_distinct(present):
        return "id"
    if len(present) >= _MIN_ROWS_FOR_ID and len(present) == len(column) and _distinct(present) == len(present):
        return "id"
    return "categorical"


def describe_table(frame: pd.DataFrame, rows: int = 10) -> dict[str, object]:
    """Schema and a preview of the first `rows` rows, every value JSON-safe (NaN becomes null)."""
    columns = []
    for name in frame.columns:
        column = frame[name]
        kind = column_kind(column)
        present = column.dropna()
        summary: dict[str, object] = {
            "name": str(name),
            "kind": kind,
            "dtype": str(column.dtype),
            "missing": int(len(column) - len(present)),
            "distinct": _distinct(present),
        }
        if kind == "numeric" and len(present):
            summary["min"] = json_value(present.min())
            summary["max"] = json_value(present.max())
            summary["mean"] = json_value(float(present.mean()))
        elif kind == "datetime" and len(present):
            as_text = not pd.api.types.is_datetime64_any_dtype(column.dtype)
            moments = pd.to_datetime(present, errors="coerce", utc=as_text)
            summary["min"] = json_value(moments.min())
            summary["max"] = json_value(moments.max())
        else:
            summary["top"] = _top_values(present)
        columns.append(summary)
    head = frame.head(rows)
    preview = [[json_value(value) for value in record] for record in head.itertuples(index=False, name=None)]
    return {"rows": int(len(frame)), "columns": columns, "preview": preview}


def json_value(value: object) -> object:
    """A cell as something json.dumps accepts without allow_nan: NaN, NaT and infinities become None."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _named_like_id(name: object) -> bool:
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", str(name))
    return any(word.lower() in _ID_WORDS for word in words)


def _distinct(present: pd.Series) -> int:
    try:
        return int(present.nunique())
    except TypeError:  # unhashable cells (lists from a Parquet list column)
        return int(present.astype(str).nunique())


def _many_distinct(present: pd.Series) -> bool:
    """Too many values for a category: more than one-hot encoding keeps, or mostly distinct."""
    distinct = _distinct(present)
    return distinct > MAX_CATEGORY_LEVELS or (len(present) >= _MIN_ROWS_FOR_ID and distinct > len(present) / 2)


def _all_booleans(present: pd.Series) -> bool:
    if not (pd.api.types.is_string_dtype(present.dtype) or present.dtype == object):
        return False
    sample = present.head(1000)
    if not all(isinstance(value, (str, bool, np.bool_)) for value in sample):
        return False
    values = _distinct_values(present)
    return bool(values.astype(str).str.strip().str.lower().isin(["true", "false"]).all())


def _all_iso_dates(present: pd.Series) -> bool:
    if not all(isinstance(value, str) for value in present.head(100)):
        return False
    return bool(_distinct_values(present).str.fullmatch(_ISO_DATE).all())


def _distinct_values(present: pd.Series) -> pd.Series:
    """Each value once, for checks that hold for every row when they hold for every value (a
    1M-row text column has a few distinct values: the checks took ~60 ms a column per row)."""
    try:
        return pd.Series(present.unique(), dtype=present.dtype)
    except TypeError:  # unhashable cells
        return present


def _top_values(present: pd.Series) -> list[dict[str, object]]:
    try:
        counts = present.value_counts()
    except TypeError:
        counts = present.astype(str).value_counts()
    return [{"value": json_value(value), "count": int(count)} for value, count in counts.head(TOP_VALUES).items()]
