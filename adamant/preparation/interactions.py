"""Implicit feedback: an interactions table (user, item, optional timestamp and weight) prepared for ranking.

Each row is one interaction (a purchase, click or open); there is no target. The split is the
field's leave-last-out (adamant/ranking/evaluation.py): each user with two or more interactions
holds out the last one by `dataset.timestamp_column` (ties by row order; a seeded random one
without timestamps), or the rows `dataset.validation.column` marks. User and item ids become
indices 1..N over the training rows, 0 for an id training never saw: a held-out item that no
training row has can never be ranked, so it counts as a miss and `cold_val_rows` says how many.
`dataset.weight_column` (quantity, spend) scales each interaction's loss; weights are divided by
their training mean, so the learning rate means the same with or without them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adamant.datasets.readers import ROW_CONVENTION
from adamant.datasets.schema import column_kind
from adamant.exceptions import DatasetError
from adamant.preparation.cells import first_row, refuse_cells, to_days, to_keys, to_numbers
from adamant.preparation.columns import select_columns
from adamant.preparation.prepare import PreparedData, refuse_missing_ids
from adamant.preparation.preprocessing import IdIndex, Preprocessing
from adamant.preparation.split import split_by_column
from adamant.ranking.evaluation import leave_last_out
from adamant.spec import JobSpec


def prepare_interactions(spec: JobSpec, frame: pd.DataFrame) -> PreparedData:
    """The training and held-out interactions of an implicit-feedback job (see the module doc)."""
    dataset = spec.dataset
    selection = select_columns(spec.task, dataset, frame)
    frame = frame.reset_index(drop=True)
    rows = np.arange(1, len(frame) + 1)
    for name in (selection.user_column, selection.item_column):
        refuse_missing_ids(frame[name], "interaction")
    weights = interaction_weights(frame[dataset.weight_column], rows) if dataset.weight_column else None
    if dataset.validation.column is not None:
        train_rows, val_rows = split_by_column(frame[dataset.validation.column])
    else:
        user_codes = pd.factorize(to_keys(frame[selection.user_column]))[0]
        times = interaction_times(frame[dataset.timestamp_column], rows) if dataset.timestamp_column else None
        split = leave_last_out(user_codes, times, seed=dataset.validation.seed)
        train_rows, val_rows = split.train, split.test
    if len(train_rows) == 0:
        raise DatasetError("No interaction is left to train on: every row is held out for validation")

    preprocessing = Preprocessing(
        task=spec.task,
        id_column=selection.id_column,
        users=IdIndex.fit(frame[selection.user_column].take(train_rows)),
        items=IdIndex.fit(frame[selection.item_column].take(train_rows)),
    )
    train, val = preprocessing.encode(frame, [train_rows, val_rows])
    ids = preprocessing.row_ids(frame, rows)
    users = preprocessing.users.lookup(frame[selection.user_column])
    items = preprocessing.items.lookup(frame[selection.item_column])
    prepared = PreparedData(
        task=spec.task,
        numbers_train=train.numbers, codes_train=train.codes, y_train=None,
        numbers_val=val.numbers, codes_val=val.codes, y_val=None,
        embedded_train=train.embedded, embedded_val=val.embedded,
        feature_names=[], ids_train=ids[train_rows], ids_val=ids[val_rows],
        train_rows=train_rows, val_rows=val_rows, preprocessing=preprocessing,
        user_idx_train=users[train_rows], item_idx_train=items[train_rows],
        user_idx_val=users[val_rows], item_idx_val=items[val_rows],
        n_users=len(preprocessing.users), n_items=len(preprocessing.items),
    )
    if weights is not None:
        train_weights = weights[train_rows]
        mean = float(train_weights.mean())
        if mean <= 0:
            raise DatasetError(f"Column {dataset.weight_column!r} is 0 on every training row", column=dataset.weight_column)
        prepared.weights_train = (train_weights / mean).astype(np.float32)
    prepared.cold_val_rows = int(np.count_nonzero((prepared.user_idx_val == 0) | (prepared.item_idx_val == 0)))
    return prepared


def interaction_weights(column: pd.Series, rows: np.ndarray) -> np.ndarray:
    """The weight column as float64: a number >= 0 on every row (a DatasetError names the first other)."""
    values = to_numbers(column, rows, "a weight (a number >= 0)")
    refuse_cells(column, rows, ~np.isfinite(values) | (values < 0), "a weight >= 0 on every interaction")
    return values


def interaction_times(column: pd.Series, rows: np.ndarray) -> np.ndarray:
    """The timestamp column as float64 (numbers as given, dates as days since 1970); none missing."""
    kind = column_kind(column)
    values = to_numbers(column, rows, "a timestamp") if kind == "numeric" else to_days(column, rows)
    missing = np.isnan(values)
    if missing.any():
        row = first_row(missing, rows)
        raise DatasetError(
            f"Column {column.name!r} has a missing timestamp at row {row} ({ROW_CONVENTION}); the held-out "
            "interaction of each user is the latest one",
            column=str(column.name),
            row=row,
        )
    return values
