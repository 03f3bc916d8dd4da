"""The target column: checked, encoded for the model, and decoded back into the user's terms.

- binary: 0/1 float32. The positive class (1) is the "yes" of a yes/no-like pair (yes/no,
  true/false, 1/0, y/n, t/f, positive/negative, pos/neg, 1/-1, case-insensitive); for any other
  pair it is the minority class (the later label in sorted order on a tie).
- multiclass: int64 indices into the labels, sorted (numerically when every label is a number).
- regression: float32 standardized with the training split's mean and std; `decode` undoes it.
- rating (recommendation): float32 as given; the training split's mean, min and max are kept.

Class labels come from the whole column (the split is stratified by them); every statistic of
a numeric target comes from the training split only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from adamant.datasets.readers import ROW_CONVENTION
from adamant.datasets.schema import json_value
from adamant.exceptions import DatasetError
from adamant.preparation.cells import factorized, factorized_keys, first_row, label_key, to_numbers, value_keys

MAX_CLASSES = 1000
_YES_NO_PAIRS = [
    ("no", "yes"),
    ("false", "true"),
    ("0", "1"),
    ("n", "y"),
    ("f", "t"),
    ("negative", "positive"),
    ("neg", "pos"),
    ("-1", "1"),
]

TargetKind = Literal["binary", "multiclass", "regression", "rating"]


@dataclass
class TargetEncoding:
    column: str
    kind: TargetKind
    labels: list[object] | None = None  # classification: the original label of each index
    mean: float | None = None
    std: float | None = None
    minimum: float | None = None
    maximum: float | None = None

    def encode(self, column: pd.Series, rows: np.ndarray, *, missing_ok: bool = False) -> np.ndarray:
        """The model's target; with missing_ok, a missing cell is NaN (binary, numeric) or -1 (multiclass)."""
        if self.kind in ("regression", "rating"):
            values = to_numbers(column, rows, what="numbers (it is the target)")
            _refuse_missing(column, rows, np.isnan(values), missing_ok)
            if self.kind == "regression":
                values = (values - self.mean) / self.std
            return values.astype(np.float32)
        codes, keys = factorized_keys(column)  # matched once per distinct value
        missing = np.array([key is None for key in keys])[codes]
        _refuse_missing(column, rows, missing, missing_ok)
        index = pd.Index([label_key(label) for label in self.labels]).get_indexer(keys)[codes]
        unknown = (index < 0) & ~missing
        if unknown.any():
            at = int(np.argmax(unknown))
            raise DatasetError(
                f"Target value {column.iloc[at]!r} at row {int(rows[at])} was not a class in training "
                f"(classes: {', '.join(map(str, self.labels))})",
                column=self.column,
                row=int(rows[at]),
            )
        if self.kind == "binary":
            return np.where(missing, np.nan, index).astype(np.float32)
        return index.astype(np.int64)

    def decode(self, values: np.ndarray) -> np.ndarray:
        """Model outputs in the user's terms: regression de-standardized, class indices as labels."""
        if self.kind == "regression":
            return np.asarray(values, dtype=np.float64) * self.std + self.mean
        if self.kind == "rating":
            return np.asarray(values, dtype=np.float64)
        labels = np.array(self.labels, dtype=object)
        return labels[np.asarray(values).astype(np.int64)]

    @property
    def n_classes(self) -> int | None:
        return len(self.labels) if self.labels is not None else None

    def to_dict(self) -> dict[str, object]:
        return {
            "column": self.column,
            "kind": self.kind,
            "labels": self.labels,
            "mean": self.mean,
            "std": self.std,
            "minimum": self.minimum,
            "maximum": self.maximum,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TargetEncoding:
        return cls(**data)


def fit_classes(task: str, column: pd.Series) -> TargetEncoding:
    """The classes of a classification target, from every row; refuses missing values and one class.
    Counted through the column's codes, so 10M rows cost one pass and not 10M label keys."""
    rows = np.arange(1, len(column) + 1)
    name = str(column.name)
    codes, values = factorized(column)
    keys = value_keys(values)
    _refuse_missing(column, rows, np.array([key is None for key in keys])[codes])
    counts = np.bincount(codes, minlength=len(values))  # no code is -1: a missing cell was refused
    originals: dict[str, object] = {}  # key -> the label as the user wrote it (first spelling seen)
    key_counts: dict[str, int] = {}
    for key, positions in _spellings(codes, keys, counts).items():
        originals[key] = json_value(values[positions[0]])
        key_counts[key] = int(counts[positions].sum())
    if len(originals) > MAX_CLASSES:
        raise DatasetError(
            f"Target column {name!r} has {len(originals)} distinct classes, more than {MAX_CLASSES}; "
            "is it an identifier, or a number to predict with regression?",
            column=name,
        )
    if len(originals) < 2:
        only = next(iter(originals.values()))
        raise DatasetError(
            f"Target column {name!r} has only one class ({only!r}); {task} needs at least two", column=name
        )
    if task == "binary_classification":
        if len(originals) > 2:
            shown = ", ".join(map(str, sorted(map(str, originals.values()))[:10]))
            raise DatasetError(
                f"Target column {name!r} has {len(originals)} classes ({shown}); binary_classification needs "
                "exactly two: use multiclass_classification",
                column=name,
            )
        negative, positive = _binary_order(key_counts)
        return TargetEncoding(column=name, kind="binary", labels=[originals[negative], originals[positive]])
    return TargetEncoding(column=name, kind="multiclass", labels=[originals[key] for key in _sorted_keys(originals)])


def _spellings(codes: np.ndarray, keys: list[str | None], counts: np.ndarray) -> dict[str, list[int]]:
    """Each label key's value positions that some row uses, the first seen first ("Yes" and " yes"
    are one label, named as the table first wrote it)."""
    found: dict[str, list[int]] = {}
    for position in np.flatnonzero(counts).tolist():
        found.setdefault(keys[position], []).append(position)  # type: ignore[arg-type]
    for positions in found.values():
        if len(positions) > 1:
            positions.sort(key=lambda position: int(np.argmax(codes == position)))
    return found


def target_numbers(column: pd.Series, rows: np.ndarray | None = None) -> np.ndarray:
    """A numeric target over every row as float64; refuses non-numbers, missing and infinite values
    (naming `rows`, the 1-based row numbers, 1..n by default)."""
    rows = np.arange(1, len(column) + 1) if rows is None else rows
    name = str(column.name)
    values = to_numbers(column, rows, what="numbers (it is the target)")
    _refuse_missing(column, rows, np.isnan(values))
    refuse_infinite(name, values, rows)
    return values


def refuse_infinite(name: str, values: np.ndarray, rows: np.ndarray) -> None:
    """DatasetError naming the first row of the target column `name` whose value is infinite."""
    infinite = np.isinf(values)
    if infinite.any():
        row = first_row(infinite, rows)
        raise DatasetError(f"Target column {name!r} holds an infinite value at row {row}", column=name, row=row)


def fit_regression(name: str, train_values: np.ndarray) -> TargetEncoding:
    std = float(train_values.std())
    return TargetEncoding(column=name, kind="regression", mean=float(train_values.mean()), std=std if std > 0 else 1.0)


def fit_rating(name: str, train_values: np.ndarray) -> TargetEncoding:
    return TargetEncoding(
        column=name,
        kind="rating",
        mean=float(train_values.mean()),
        minimum=float(train_values.min()),
        maximum=float(train_values.max()),
    )


def _refuse_missing(column: pd.Series, rows: np.ndarray, missing: np.ndarray, missing_ok: bool = False) -> None:
    if missing_ok or not missing.any():
        return
    row = first_row(missing, rows)
    raise DatasetError(
        f"Target column {column.name!r} has {int(missing.sum())} missing values, the first at row {row} "
        f"({ROW_CONVENTION}); fill them or drop those rows",
        column=str(column.name),
        row=row,
    )


def _binary_order(counts: dict[str, int]) -> tuple[str, str]:
    """(negative, positive) keys of a two-class target, from its rows per key."""
    pair = sorted(counts)
    by_lower = {key.lower(): key for key in pair}
    for negative, positive in _YES_NO_PAIRS:
        if set(by_lower) == {negative, positive}:
            return by_lower[negative], by_lower[positive]
    first, second = pair
    # The minority class is what a marketer looks for (the buyer, the churner).
    return (second, first) if counts[first] < counts[second] else (first, second)


def _sorted_keys(originals: dict[str, object]) -> list[str]:
    keys = list(originals)
    try:
        return sorted(keys, key=float)
    except ValueError:
        return sorted(keys)
