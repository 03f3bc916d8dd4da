"""Preparing a Parquet table too large to hold: two passes over its record batches, the encoded rows written to disk.

A job whose table is a Parquet file (or a folder of Parquet files partitioned Hive-style: an
object-store folder the worker copied; datasets/parquet_parts.py) of at least `stream_from_rows` rows (ADAMANT_STREAM_FROM_ROWS,
20M by default: the in-memory path peaks at ~3 GB at 10M rows) and whose task learns features
against a target (STREAMED_TASKS) is prepared here instead of by prepare_training_data, in memory
that does not grow with the rows: one record batch (`batch_rows`) and the fit sample at a time.

1. The split. Row r (0-based) is a validation row when `hashed_uniform(r, seed)` is below
   dataset.validation.fraction, or, with dataset.validation.column, when that column marks it.
   A row's part follows from its number alone, so no permutation of every row is held; the
   validation share is the fraction up to sampling noise (+-0.01% at 100M rows). With
   `stratify`, each class's share is the fraction up to the same noise rather than to one row.
2. The fit pass reads every batch. Another hash stream keeps ~FIT_SAMPLE_ROWS (2M) training rows
   and every row's target label is collected; column selection, the target and the preprocessing
   are fitted on that sample: numeric statistics and the levels alike (a level needs
   EMBED_MIN_ROWS rows in the sample for an embedding row of its own). The drift reference
   profile is made of the same rows (adamant/monitoring/profile.py).
3. The encode pass reads every batch again (the columns the preprocessing uses only), encodes it
   with Preprocessing.encode, the function predictions use, and appends its training and its
   validation rows to .npy files (mapped.NpyWriter) in file order.

What comes back is a PreparedData whose arrays are those files mapped copy-on-write, and the
sample as a frame. The engine reads the training rows a window of shuffled blocks at a time
(worker/engine/blocks.py). Ids of a streamed table are its 1-based row numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from adamant.datasets.parquet_parts import table_batches, table_rows
from adamant.datasets.prefetch import prefetched
from adamant.datasets.readers import ROW_CONVENTION, batches_frame
from adamant.datasets.schema import json_value
from adamant.exceptions import DatasetError
from adamant.preparation.cells import first_row, label_key, to_keys
from adamant.preparation.columns import select_columns
from adamant.preparation.mapped import NpyWriter, open_mapped
from adamant.preparation.prepare import FIT_SAMPLE_ROWS, PreparedData
from adamant.preparation.preprocessing import Preprocessing, fit_preprocessing
from adamant.preparation.split import validation_marks
from adamant.preparation.targets import TargetEncoding, fit_classes, fit_regression, refuse_infinite, target_numbers
from adamant.spec import CLASSIFICATION_TASKS, JobSpec

STREAMED_TASKS = ("binary_classification", "multiclass_classification", "regression")
STREAM_BATCH_ROWS = 1_000_000
SPLIT_STREAM, SAMPLE_STREAM = 1, 2
_GOLDEN, _MIX1, _MIX2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)

RowsCallback = Callable[[int, int | None], None]


def hashed_uniform(rows: np.ndarray, seed: int, stream: int = SPLIT_STREAM) -> np.ndarray:
    """A number in [0, 1) per row number, a pure function of (row, seed, stream): splitmix64's mix."""
    offset = np.uint64((seed * 0x632BE59BD9B4E019 + stream * 0x85157AF5C3A2B6D1) % 2**64)
    z = np.asarray(rows).astype(np.uint64) * _GOLDEN + offset  # uint64 arithmetic wraps, as the mix wants
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def streams(task: str, path: Path, format: str, stream_from_rows: int) -> bool:
    """Whether a job of `task` on `path` is prepared here: a Parquet file, or a folder of them
    (datasets/parquet_parts.py), of at least `stream_from_rows` rows (DatasetError when it cannot be read)."""
    if task not in STREAMED_TASKS:
        return False
    rows = table_rows(path, format)  # type: ignore[arg-type]
    return rows is not None and rows >= stream_from_rows


@dataclass
class _FitPass:
    sample: pd.DataFrame
    sample_rows: np.ndarray  # 0-based rows of the file
    n_train: int = 0
    n_val: int = 0
    labels: dict[str, object] = field(default_factory=dict)  # classification: every label seen, by key


def prepare_streamed(
    spec: JobSpec,
    path: Path,
    folder: Path,
    *,
    on_read: RowsCallback | None = None,
    on_encoded: RowsCallback | None = None,
    batch_rows: int = STREAM_BATCH_ROWS,
    sample_size: int = FIT_SAMPLE_ROWS,
) -> tuple[PreparedData, pd.DataFrame]:
    """(the prepared data, its arrays mapped from .npy files written in `folder`; the fit sample).
    `on_read` hears the fit pass's rows, `on_encoded` the encode pass's."""
    if spec.task not in STREAMED_TASKS:
        raise ValueError(f"{spec.task} is not prepared by streaming")
    total = table_rows(path, spec.dataset.format)
    if total is None:
        raise DatasetError(f"{path.name!r} is not a Parquet file; only Parquet tables are prepared by streaming")
    fitted = _fit_pass(spec, path, total, batch_rows, sample_size, on_read)
    selection = select_columns(spec.task, spec.dataset, fitted.sample)
    target = _fit_target(spec, fitted, selection.target)
    n = len(fitted.sample)
    preprocessing = fit_preprocessing(
        spec.task, selection, fitted.sample, np.arange(n), target, spec.dataset.high_cardinality,
        row_numbers=fitted.sample_rows + 1,
    )
    classes = _encode_pass(spec, path, folder, preprocessing, fitted, total, batch_rows, on_encoded)
    if spec.task in CLASSIFICATION_TASKS and len(classes) < 2:
        raise DatasetError(
            f"The training split holds one class of {selection.target!r} only; add rows", column=selection.target
        )
    np.save(folder / "fit_rows.npy", fitted.sample_rows, allow_pickle=False)
    arrays = {name.stem: open_mapped(name) for name in folder.glob("*.npy")}
    data = PreparedData(
        task=spec.task,
        feature_names=preprocessing.feature_names,
        preprocessing=preprocessing,
        excluded_columns=dict(selection.excluded),
        streamed=True,
        ids_train=None,
        **{name: arrays[name] for name in ARRAYS},
    )
    if target.n_classes is not None:
        data.n_classes, data.class_labels = target.n_classes, list(target.labels)
    return data, fitted.sample


ARRAYS = (
    "numbers_train", "codes_train", "embedded_train", "y_train", "train_rows",
    "numbers_val", "codes_val", "embedded_val", "y_val", "ids_val", "val_rows", "fit_rows",
)


def _is_validation(spec: JobSpec, batch: pd.DataFrame | None, rows: np.ndarray) -> np.ndarray:
    validation = spec.dataset.validation
    if validation.column is not None:
        return validation_marks(batch[validation.column])
    return hashed_uniform(rows, validation.seed) < validation.fraction


def _fit_pass(
    spec: JobSpec, path: Path, total: int, batch_rows: int, sample_size: int, on_read: RowsCallback | None
) -> _FitPass:
    dataset = spec.dataset
    expected_train = total if dataset.validation.column is not None else total * (1 - dataset.validation.fraction)
    rate = min(1.0, sample_size / max(expected_train, 1.0))
    kept: list[pa.RecordBatch] = []
    kept_rows: list[np.ndarray] = []
    fitted = _FitPass(pd.DataFrame(), np.empty(0, dtype=np.int64))
    schema: pa.Schema | None = None
    offset = 0
    if on_read is not None:
        on_read(0, total)
    for batch in prefetched(table_batches(path, batch_rows=batch_rows)):
        schema = batch.schema
        rows = np.arange(offset, offset + batch.num_rows, dtype=np.int64)
        if offset == 0:  # a misnamed column is the user's error now, not after a pass over the table
            select_columns(spec.task, dataset, batches_frame([batch.slice(0, 100)], schema))
        frame = None
        wanted = [name for name in (dataset.validation.column, dataset.target) if name is not None]
        if wanted:
            columns = batch.select(wanted)
            frame = batches_frame([columns], columns.schema)
        is_val = _is_validation(spec, frame, rows)
        fitted.n_val += int(is_val.sum())
        picked = ~is_val & (hashed_uniform(rows, dataset.validation.seed, SAMPLE_STREAM) < rate)
        kept.append(batch.filter(pa.array(picked)))
        kept_rows.append(rows[picked])
        if spec.task in CLASSIFICATION_TASKS:
            _collect_labels(frame[dataset.target], rows + 1, fitted.labels)
        offset += batch.num_rows
        if on_read is not None:
            on_read(offset, total)
    fitted.n_train = offset - fitted.n_val
    if fitted.n_val == 0 or fitted.n_train == 0:
        part = "training" if fitted.n_train == 0 else "validation"
        raise DatasetError(f"The split of the table's {offset} rows left no {part} rows; check dataset.validation")
    fitted.sample = batches_frame(kept, schema)
    fitted.sample_rows = np.concatenate(kept_rows)
    if len(fitted.sample) == 0:
        raise DatasetError("The fit sample of the training rows is empty; the table has too few training rows")
    return fitted


def _collect_labels(column: pd.Series, rows: np.ndarray, labels: dict[str, object]) -> None:
    codes, uniques = pd.factorize(column, use_na_sentinel=True)  # once per distinct value from here
    keys = [label_key(value) for value in uniques]
    missing = np.array([key is None for key in keys] + [True])[codes]  # code -1: a missing cell
    if missing.any():
        row = first_row(missing, rows)
        raise DatasetError(
            f"Target column {column.name!r} is missing a value at row {row} ({ROW_CONVENTION})",
            column=str(column.name), row=row,
        )
    for key, value in zip(keys, uniques):
        labels.setdefault(key, json_value(value))


def _fit_target(spec: JobSpec, fitted: _FitPass, name: str) -> TargetEncoding:
    column = fitted.sample[name]
    if spec.task in CLASSIFICATION_TASKS:
        # Labels the sample missed (a class rarer than one row in the sample's rate) still get an index.
        seen = set(to_keys(column).tolist())
        unseen = [value for key, value in fitted.labels.items() if key not in seen]
        return fit_classes(spec.task, pd.concat([column, pd.Series(unseen, name=name, dtype=object)], ignore_index=True))
    return fit_regression(name, target_numbers(column, fitted.sample_rows + 1))


def _encode_pass(
    spec: JobSpec,
    path: Path,
    folder: Path,
    preprocessing: Preprocessing,
    fitted: _FitPass,
    total: int,
    batch_rows: int,
    on_encoded: RowsCallback | None,
) -> set[int]:
    """Writes the arrays of ARRAYS into `folder`; returns the classes seen in the training rows."""
    target = preprocessing.target
    assert target is not None
    columns = list(dict.fromkeys([*preprocessing.input_columns, target.column, *filter(None, [spec.dataset.validation.column])]))
    empty = preprocessing.layout().empty(0)
    y_dtype = np.int64 if target.kind == "multiclass" else np.float32
    writers: dict[str, NpyWriter] = {}
    for part, n in (("train", fitted.n_train), ("val", fitted.n_val)):
        for name, dtype, width in (("numbers", np.float32, empty.numbers.shape[1]), ("codes", empty.codes.dtype, empty.codes.shape[1]),
                                   ("embedded", np.int32, empty.embedded.shape[1])):
            writers[f"{name}_{part}"] = NpyWriter(folder / f"{name}_{part}.npy", dtype, (n, width))
        writers[f"y_{part}"] = NpyWriter(folder / f"y_{part}.npy", y_dtype, (n,))
        if part == "val":  # ids of training rows are their row numbers + 1, and nothing reads them: 8 bytes a row saved
            writers["ids_val"] = NpyWriter(folder / "ids_val.npy", np.int64, (n,))
        writers[f"{part}_rows"] = NpyWriter(folder / f"{part}_rows.npy", np.int64, (n,))
    classes: set[int] = set()
    offset = 0
    if on_encoded is not None:
        on_encoded(0, total)
    try:
        for batch in prefetched(table_batches(path, columns=columns, batch_rows=batch_rows)):
            frame = batches_frame([batch], batch.schema)
            rows = np.arange(offset, offset + len(frame), dtype=np.int64)
            is_val = _is_validation(spec, frame, rows)
            parts = [np.flatnonzero(~is_val), np.flatnonzero(is_val)]
            encoded = preprocessing.encode(frame, parts, rows + 1)
            y = _target(target, frame[target.column], rows + 1)
            if target.kind != "regression":
                classes.update(np.unique(y[parts[0]]).astype(int).tolist())
            for part, positions, rows_encoded in zip(("train", "val"), parts, encoded, strict=True):
                writers[f"numbers_{part}"].append(rows_encoded.numbers)
                writers[f"codes_{part}"].append(rows_encoded.codes)
                writers[f"embedded_{part}"].append(rows_encoded.embedded)
                writers[f"y_{part}"].append(y[positions])
                if part == "val":
                    writers["ids_val"].append(rows[positions] + 1)
                writers[f"{part}_rows"].append(rows[positions])
            offset += len(frame)
            if on_encoded is not None:
                on_encoded(offset, total)
    except BaseException:
        for writer in writers.values():
            writer.close(complete=False)
        raise
    for writer in writers.values():
        writer.close()  # checks every array got its rows
    return classes


def _target(target: TargetEncoding, column: pd.Series, rows: np.ndarray) -> np.ndarray:
    """The encoded target of a batch; a missing or (regression) infinite value is refused at its row."""
    y = target.encode(column, rows)  # names the row of a missing or text value
    if target.kind == "regression":
        refuse_infinite(target.column, y, rows)
    return y
