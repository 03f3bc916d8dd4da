"""How a cell becomes a number or a key, the same way at training and at prediction.

Prediction rows may come from another file or from JSON, where 1, 1.0 and "1" or True and
"True" arrive as different Python types; keys make them match what training saw. Errors name
the column and the user's row number (row 1 = the first data row after the header).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from adamant.datasets.readers import ROW_CONVENTION
from adamant.exceptions import DatasetError

_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
_DAY = pd.Timedelta(days=1)


def label_key(value: object) -> str | None:
    """The text a value is matched by; None for a missing value (None, NaN, NaT, blank text)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def factorized_keys(column: pd.Series) -> tuple[np.ndarray, list[str | None]]:
    """(codes, keys): each cell's index into `keys`, the label_key of each distinct value with a
    trailing None, which code -1 (a missing cell) picks. Matching and counting through it cost
    one pass over the codes and one label_key per distinct value, not one per row. A categorical
    column gives its own codes and every category, used or not (no row is hashed): a key no code
    picks weighs nothing, since callers count and match through the codes."""
    codes, uniques = factorized(column)
    return codes, value_keys(uniques)


def factorized(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes, values): pd.factorize's, or a categorical column's own codes and categories."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), np.asarray(column.cat.categories, dtype=object)
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


def value_keys(values: np.ndarray) -> list[str | None]:
    """label_key of each distinct value, and a trailing None."""
    if pd.api.types.infer_dtype(values, skipna=False) == "string":  # text: label_key is strip, blank is missing
        return [value.strip() or None for value in values.tolist()] + [None]
    return [label_key(value) for value in values] + [None]


def to_keys(column: pd.Series) -> np.ndarray:
    """label_key of every cell, as an object array (None where missing)."""
    codes, keys = factorized_keys(column)
    return np.array(keys, dtype=object)[codes]


def to_numbers(column: pd.Series, rows: np.ndarray, what: str = "a number") -> np.ndarray:
    """The column as float64, NaN where missing; a DatasetError at the first cell that is not a number."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_numeric_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        raise DatasetError(f"Column {column.name!r} holds dates where {what} is needed", column=str(column.name))
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    refuse_cells(column, rows, np.isnan(numbers) & ~pd.isna(to_keys(column)), what)
    return numbers


def to_days(column: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Dates and times as float64 days since 1970-01-01 UTC (naive times count as UTC); NaN where missing."""
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        raise DatasetError(f"Column {column.name!r} holds numbers where dates are needed", column=str(column.name))
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        moments = pd.to_datetime(column, utc=True)
    else:
        moments = pd.to_datetime(column, errors="coerce", utc=True, format="mixed")
    days = ((moments - _EPOCH) / _DAY).to_numpy(dtype=np.float64, na_value=np.nan)
    refuse_cells(column, rows, np.isnan(days) & ~pd.isna(to_keys(column)), "dates")
    return days


def refuse_cells(column: pd.Series, rows: np.ndarray, bad: np.ndarray, must: str) -> None:
    """A DatasetError naming the column, the first `bad` cell's value and its row, when there is one."""
    if bad.any():
        first = int(np.argmax(bad))
        raise DatasetError(
            f"Column {column.name!r} must hold {must}; found {column.iloc[first]!r} at row {int(rows[first])} "
            f"({ROW_CONVENTION})",
            column=str(column.name),
            row=int(rows[first]),
        )


def first_row(mask: np.ndarray, rows: np.ndarray) -> int:
    """The user's row number of the first True in mask."""
    return int(rows[int(np.argmax(mask))])
