"""From a job spec and its table to numpy arrays a model trains on, plus the Preprocessing to save.

The order is the contract: choose and check columns, check and encode the target over every
row, split, fit preprocessing on the training rows only, then encode both parts through
`Preprocessing.transform`, the very function predictions use, so the two cannot drift apart.

Recommendation splits the rating rows at random (dataset.validation.fraction, 20% by default),
not per user: a validation row whose user or item never occurs in training is "cold" and gets
index 0; `cold_val_rows` counts them so the engine and the user know.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from adamant.datasets.readers import ROW_CONVENTION
from adamant.exceptions import DatasetError
from adamant.preparation.cells import first_row, to_keys
from adamant.preparation.columns import select_columns
from adamant.preparation.encoding import EncodedRows
from adamant.preparation.preprocessing import Preprocessing, fit_preprocessing
from adamant.preparation.split import split_by_column, split_rows
from adamant.preparation.targets import TargetEncoding, fit_classes, fit_rating, fit_regression, target_numbers
from adamant.spec import CLASSIFICATION_TASKS, JobSpec, Task

# Numeric statistics (medians, quantile bins, skewness) of a larger training split come from a
# random sample of this many rows: their error is far below what they change, and fitting them
# on 8M rows took ~10 s of a 10M-row table's preparation. Levels are always counted in full.
FIT_SAMPLE_ROWS = 2_000_000


@dataclass
class PreparedData:
    task: Task
    # The compact encoding (adamant/preparation/encoding.py): float32 standardized numbers and
    # int16/int32 codes; `x_train`/`x_val` expand it into the feature matrix (rows, features).
    numbers_train: np.ndarray
    codes_train: np.ndarray
    y_train: np.ndarray | None  # float32; int64 class indices for multiclass; None for segmentation
    numbers_val: np.ndarray
    codes_val: np.ndarray
    y_val: np.ndarray | None
    embedded_train: np.ndarray  # int32 (rows, embedded columns): rows of each column's embedding
    embedded_val: np.ndarray
    feature_names: list[str]
    ids_train: np.ndarray | None  # the id column's values, or 1-based row numbers; None when streamed (never read)
    ids_val: np.ndarray
    train_rows: np.ndarray  # 0-based positions in the table
    val_rows: np.ndarray
    preprocessing: Preprocessing
    n_classes: int | None = None
    class_labels: list[object] | None = None  # index -> label; binary: [negative, positive]
    # recommendation: indices 1..n_users / 1..n_items, 0 = not seen in training; y = the rating
    user_idx_train: np.ndarray | None = None
    item_idx_train: np.ndarray | None = None
    user_idx_val: np.ndarray | None = None
    item_idx_val: np.ndarray | None = None
    n_users: int = 0
    n_items: int = 0
    rating_mean: float | None = None
    rating_min: float | None = None
    rating_max: float | None = None
    cold_val_rows: int = 0
    # implicit feedback (adamant/preparation/interactions.py): each training interaction's weight over their mean
    weights_train: np.ndarray | None = None
    excluded_columns: dict[str, str] = field(default_factory=dict)  # column -> why it is not a feature
    # the training rows numeric statistics were fitted on, when a table has more than FIT_SAMPLE_ROWS
    fit_rows: np.ndarray | None = None
    # prepared by streaming (adamant/preparation/streamed.py): the arrays are mapped files, the
    # whole preprocessing (levels too) was fitted on `fit_rows`, and training reads shuffled blocks
    streamed: bool = False

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def train(self) -> EncodedRows:
        return EncodedRows(self.numbers_train, self.codes_train, self.embedded_train)

    @property
    def val(self) -> EncodedRows:
        return EncodedRows(self.numbers_val, self.codes_val, self.embedded_val)

    @property
    def x_train(self) -> np.ndarray:
        """The training rows' whole feature matrix (built on each call: large tables use `train`)."""
        return self.preprocessing.layout().expand(self.train)

    @property
    def x_val(self) -> np.ndarray:
        return self.preprocessing.layout().expand(self.val)


def fit_sample(train_rows: np.ndarray, seed: int, size: int | None = None) -> np.ndarray | None:
    """A seeded random sample of `size` (FIT_SAMPLE_ROWS) training rows, sorted; None when there
    are no more training rows than that (every row is used)."""
    size = FIT_SAMPLE_ROWS if size is None else size
    if len(train_rows) <= size:
        return None
    return np.sort(np.random.default_rng(seed).choice(train_rows, size, replace=False))


def prepare_training_data(spec: JobSpec, frame: pd.DataFrame) -> PreparedData:
    if spec.implicit:
        from adamant.preparation.interactions import prepare_interactions  # noqa: PLC0415 - it imports this module

        return prepare_interactions(spec, frame)
    task, dataset = spec.task, spec.dataset
    selection = select_columns(task, dataset, frame)
    frame = frame.reset_index(drop=True)

    target: TargetEncoding | None = None
    strata = None
    numeric_target = None
    if task in CLASSIFICATION_TASKS:
        target = fit_classes(task, frame[selection.target])
        if dataset.validation.stratify:
            strata = target.encode(frame[selection.target], np.arange(1, len(frame) + 1))
    elif task in ("regression", "recommendation"):
        numeric_target = target_numbers(frame[selection.target])
    if task == "recommendation":
        for name in (selection.user_column, selection.item_column):
            refuse_missing_ids(frame[name], "rating")

    if dataset.validation.column is not None:
        train_rows, val_rows = split_by_column(frame[dataset.validation.column])
    else:
        train_rows, val_rows = split_rows(len(frame), dataset.validation.fraction, dataset.validation.seed, strata)
    if task == "regression":
        target = fit_regression(selection.target, numeric_target[train_rows])
    elif task == "recommendation":
        target = fit_rating(selection.target, numeric_target[train_rows])

    sample = fit_sample(train_rows, dataset.validation.seed)
    preprocessing = fit_preprocessing(task, selection, frame, train_rows, target, dataset.high_cardinality, sample)
    train, val = preprocessing.encode(frame, [train_rows, val_rows])
    y = None
    if target is not None:
        y = target.encode(frame[target.column], np.arange(1, len(frame) + 1), missing_ok=True)
    ids = preprocessing.row_ids(frame, np.arange(1, len(frame) + 1))

    prepared = PreparedData(
        task=task,
        numbers_train=train.numbers,
        codes_train=train.codes,
        y_train=None if y is None else y[train_rows],
        numbers_val=val.numbers,
        codes_val=val.codes,
        y_val=None if y is None else y[val_rows],
        embedded_train=train.embedded,
        embedded_val=val.embedded,
        feature_names=preprocessing.feature_names,
        ids_train=ids[train_rows],
        ids_val=ids[val_rows],
        train_rows=train_rows,
        val_rows=val_rows,
        preprocessing=preprocessing,
        excluded_columns=dict(selection.excluded),
        fit_rows=sample,
    )
    if task in CLASSIFICATION_TASKS:
        if np.unique(prepared.y_train).size < 2:
            raise DatasetError(
                f"The training split holds one class of {selection.target!r} only; set "
                "dataset.validation.stratify to true or add rows",
                column=selection.target,
            )
        prepared.n_classes = target.n_classes
        prepared.class_labels = list(target.labels)
    if task == "recommendation":
        users = preprocessing.users.lookup(frame[preprocessing.users.column])
        items = preprocessing.items.lookup(frame[preprocessing.items.column])
        prepared.user_idx_train, prepared.item_idx_train = users[train_rows], items[train_rows]
        prepared.user_idx_val, prepared.item_idx_val = users[val_rows], items[val_rows]
        prepared.n_users, prepared.n_items = len(preprocessing.users), len(preprocessing.items)
        prepared.rating_mean, prepared.rating_min, prepared.rating_max = target.mean, target.minimum, target.maximum
        prepared.cold_val_rows = int(np.count_nonzero((prepared.user_idx_val == 0) | (prepared.item_idx_val == 0)))
    return prepared


def refuse_missing_ids(column: pd.Series, what: str) -> None:
    """A DatasetError at the first row of `column` with no id: every rating (interaction) needs a user and an item."""
    missing = pd.isna(to_keys(column))
    if missing.any():
        row = first_row(missing, np.arange(1, len(column) + 1))
        raise DatasetError(
            f"Column {column.name!r} has a missing id at row {row} ({ROW_CONVENTION}); every {what} needs "
            "a user and an item",
            column=str(column.name),
            row=row,
        )
