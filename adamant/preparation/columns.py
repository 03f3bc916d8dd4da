"""Which columns a job uses: the target, the features, the id, and for recommendation user and item.

Every column the spec names must exist (a typo gets the closest existing name); with no
feature list, the features are every other column except identifiers and columns holding a
single value, which are left out with the reason recorded so the user can see why.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import pandas as pd

from adamant.datasets.schema import column_kind
from adamant.exceptions import DatasetError
from adamant.spec import DatasetSpec

_LISTED_COLUMNS = 30


@dataclass(frozen=True)
class ColumnSelection:
    target: str | None
    features: tuple[str, ...]
    id_column: str | None = None
    user_column: str | None = None
    item_column: str | None = None
    excluded: dict[str, str] = field(default_factory=dict)  # column -> why it is not a feature
    kinds: dict[str, str] = field(default_factory=dict)  # feature -> column_kind over the whole table, where known


def select_columns(task: str, dataset: DatasetSpec, frame: pd.DataFrame) -> ColumnSelection:
    if frame.shape[1] == 0:
        raise DatasetError("The table has no columns")
    if len(frame) == 0:
        raise DatasetError("The table has no rows")
    columns = [str(name) for name in frame.columns]
    named: list[tuple[str, str]] = [("target", dataset.target), ("id_column", dataset.id_column)]
    named += [("user_column", dataset.user_column), ("item_column", dataset.item_column)]
    named += [("features", name) for name in dataset.features or []]
    named += [("drop", name) for name in dataset.drop]
    named += [("validation.column", dataset.validation.column)]
    named += [("timestamp_column", dataset.timestamp_column), ("weight_column", dataset.weight_column)]
    for field_name, name in named:
        if name is not None and name not in columns:
            raise unknown_column(name, f"dataset.{field_name}", columns)

    target = dataset.target
    implicit = task == "recommendation" and dataset.feedback == "implicit"
    if task != "segmentation" and not implicit and target is None:
        raise DatasetError(f"Task {task} needs dataset.target, the column to predict")
    roles = {"id_column": dataset.id_column, "user_column": dataset.user_column, "item_column": dataset.item_column}
    for role, name in roles.items():
        if name is not None and name == target:
            raise DatasetError(f"Column {name!r} is both the target and dataset.{role}", column=name)
    if target is not None and target in dataset.drop:
        raise DatasetError(f"Column {target!r} is the target and is also in dataset.drop", column=target)
    for name in dataset.features or []:
        if name == target:
            raise DatasetError(f"Column {name!r} is the target and is also in dataset.features", column=name)
        if name in dataset.drop:
            raise DatasetError(f"Column {name!r} is in both dataset.features and dataset.drop", column=name)
        if name == dataset.validation.column:
            raise DatasetError(
                f"Column {name!r} is dataset.validation.column and is also in dataset.features", column=name
            )
        if name == dataset.id_column:
            raise DatasetError(
                f"Column {name!r} is dataset.id_column and is also in dataset.features; an id labels a "
                "customer and is not learnt from",
                column=name,
            )

    if task == "recommendation":
        if dataset.features:
            raise DatasetError(
                "Recommendation models learn from the user, item and rating (or timestamp and weight) columns "
                "only; remove dataset.features",
                column=dataset.features[0],
            )
        return ColumnSelection(
            target=target,
            features=(),
            id_column=dataset.id_column,
            user_column=dataset.user_column,
            item_column=dataset.item_column,
        )

    excluded: dict[str, str] = {}
    kinds: dict[str, str] = {}
    if dataset.features is not None:
        features = tuple(dict.fromkeys(dataset.features))
    else:
        taken = {target, dataset.id_column, dataset.user_column, dataset.item_column, dataset.validation.column, *dataset.drop}
        features = ()
        for name in columns:
            if name in taken:
                continue
            kind = column_kind(frame[name]) if not frame[name].isna().all() else None
            reason = _unusable(frame[name], kind)
            if reason:
                excluded[name] = reason
            else:
                features += (name,)
                kinds[name] = kind
    if not features:
        why = "; ".join(f"{name}: {reason}" for name, reason in excluded.items())
        raise DatasetError(
            "No feature columns are left to learn from"
            + (f" (left out: {why})" if why else "")
            + "; list them in dataset.features"
        )
    return ColumnSelection(
        target=target,
        features=features,
        id_column=dataset.id_column,
        user_column=dataset.user_column,
        item_column=dataset.item_column,
        excluded=excluded,
        kinds=kinds,
    )


def unknown_column(name: str, where: str, columns: list[str]) -> DatasetError:
    """A DatasetError for a column the table lacks, with the closest existing name and the columns."""
    close = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
    if not close:
        lowered = {column.lower(): column for column in columns}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    shown = ", ".join(columns[:_LISTED_COLUMNS])
    if len(columns) > _LISTED_COLUMNS:
        shown += f", ... ({len(columns)} in all)"
    return DatasetError(f"Column {name!r} in {where} is not in the table{hint}. Its columns: {shown}", column=name)


def _unusable(column: pd.Series, kind: str | None) -> str | None:
    """Why a column (of column_kind `kind`; None when every value is missing) makes no feature by default, or None."""
    if kind is None:
        return "every value is missing"
    if kind == "id":
        return "looks like an identifier; set it as dataset.id_column, or list it in dataset.features to learn from it"
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        # min and max instead of counting distinct values: hashing 10M floats took 0.25 s a column
        single = not column.isna().any() and column.min() == column.max()
        return "holds a single value" if single else None
    try:
        distinct = column.nunique(dropna=False)
    except TypeError:
        return "holds values that are neither numbers nor text"
    if distinct == 1:
        return "holds a single value"
    return None
