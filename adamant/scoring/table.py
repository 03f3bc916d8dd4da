"""Scoring a table: a whole customer table through a checkpoint into one CSV or Parquet file (a scoring job's work).

The table is scored in chunks of 50,000 rows, each written before the next is scored, so
the outputs never sit in memory all at once. The file has one row per input row, in order,
with the columns the torch-free scorer gives (adamant/scoring/scorer.py) — for a recommender
given only user ids, its top-k rows per user — and is written to a temporary file beside the
target and renamed over it, so a reader sees the old file or the whole new one, never half.

The summary says what was written (rows, path, sha256, bytes), how fast, and, when the table
carries the target, how good the scores were: the gains table and lift summary (binary),
accuracy (multiclass), RMSE and MAE (regression, ratings); for segmentation the segment
sizes. Given the checkpoint's reference profile it also carries the drift report.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from adamant.checkpoint_files import sha256_of
from adamant.exceptions import DatasetError
from adamant.monitoring.drift import drift_report
from adamant.monitoring.gains import gains_table, lift_summary
from adamant.preparation.cells import to_numbers
from adamant.ranking.top_k import join_item_metadata
from adamant.scoring.scorer import Scorer, output_frame, score_frame

OutputFormat = Literal["csv", "parquet"]
CHUNK_ROWS = 50_000
SCORE_COLUMNS = {  # the output column a reference profile's "score" describes, per task
    "binary_classification": "score",
    "regression": "prediction",
    "recommendation": "prediction",
    "segmentation": "segment",
}


def score_table(
    scorer: Scorer,
    frame: pd.DataFrame,
    out_path: Path,
    *,
    fmt: OutputFormat = "csv",
    top_k: int = 10,
    chunk_rows: int = CHUNK_ROWS,
    profile: dict[str, Any] | None = None,
    id_column: str | None = None,
    on_chunk: Callable[[int], None] | None = None,
    item_metadata: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Score every row of `frame` into `out_path`; returns the summary (JSON-safe).

    `id_column` names the table's column that identifies each row in the output (a customer
    id the model was not trained with); by default the model's own id column, else the row
    number. `on_chunk(rows_done)` runs after each chunk is written: the worker reports
    progress there, and may raise to stop (the partial file is then removed). A recommender's
    top-k rows get `item_metadata`'s columns beside each item (adamant/ranking/top_k.py).

    Summary keys: "rows_scored", "output_rows", "columns", "seconds", "rows_per_s", "path",
    "format", "sha256", "bytes", "evaluation" (None, or {"labelled_rows", ...} by task:
    "gains" and "lift" / "accuracy" / "rmse" and "mae"), "segments" (segmentation:
    [{"segment", "rows", "share"}]) and "drift" (drift_report's, when `profile` is given).
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be 1 or more, not {chunk_rows}")
    if id_column is not None and id_column not in frame.columns:
        raise DatasetError(f"The table has no id column {id_column!r}", column=id_column)
    out_path = Path(out_path)
    started = time.perf_counter()
    score_column = SCORE_COLUMNS.get(scorer.task)
    scores: list[np.ndarray] = []  # per row: the profiled score, or the predicted class (multiclass)
    truth: list[np.ndarray] = []
    output_rows, columns = 0, []
    with _atomic_file(out_path) as temporary, _chunk_writer(fmt, temporary) as write:
        for start in range(0, len(frame), chunk_rows) if len(frame) else [0]:
            chunk = frame.iloc[start : start + chunk_rows]
            out = score_chunk(scorer, chunk, first_row=start + 1, top_k=top_k, id_column=id_column)
            ranked = gives_top_k(scorer, chunk)
            if ranked and item_metadata is not None:
                out = join_item_metadata(out, item_metadata, scorer.preprocessing.items.column)
            write(out)
            output_rows += len(out)
            columns = [str(column) for column in out.columns]
            if on_chunk is not None:
                on_chunk(start + len(chunk))
            if ranked:
                continue  # top-k rows per user: nothing to evaluate or profile per input row
            if scorer.task == "multiclass_classification":
                scores.append(_predicted_class(scorer, out))
            elif score_column in out.columns:
                scores.append(out[score_column].to_numpy(dtype=np.float64))
            if (labels := _labels(scorer, chunk, first_row=start + 1)) is not None:
                truth.append(labels)
    seconds = time.perf_counter() - started
    per_row = np.concatenate(scores) if scores else None
    evaluation = _evaluation(scorer, per_row, np.concatenate(truth)) if truth and per_row is not None else None
    drift = None
    if profile is not None and len(frame):
        drift = drift_report(profile, frame, scores=per_row if scorer.task in SCORE_COLUMNS else None)
    return {
        "rows_scored": int(len(frame)),
        "output_rows": output_rows,
        "columns": columns,
        "seconds": seconds,
        "rows_per_s": len(frame) / seconds if seconds > 0 else None,
        "path": str(out_path),
        "format": fmt,
        "sha256": sha256_of(out_path),
        "bytes": out_path.stat().st_size,
        "evaluation": evaluation,
        "segments": _segments(scorer, per_row) if scorer.task == "segmentation" and per_row is not None else None,
        "drift": drift,
    }


def score_chunk(
    scorer: Scorer, chunk: pd.DataFrame, *, first_row: int, top_k: int = 10, id_column: str | None = None
) -> pd.DataFrame:
    """score_frame's outputs for rows `first_row`, `first_row` + 1, ... of the table (1-based),
    so row numbers (ids and errors alike) count from the top of the table, not of the chunk;
    with `id_column`, that column of the chunk comes first in place of the model's id."""
    if gives_top_k(scorer, chunk):
        return score_frame(scorer, chunk, top_k=top_k)  # top-k rows per user: no row numbers in them
    row_numbers = np.arange(first_row, first_row + len(chunk))
    out = output_frame(scorer, scorer.preprocessing.transform(chunk, row_numbers=row_numbers))
    default_id = scorer.preprocessing.id_column or "row"
    if id_column is not None and id_column != default_id:
        out = out.drop(columns=[default_id])
        out.insert(0, id_column, chunk[id_column].to_numpy())
    return out


def gives_top_k(scorer: Scorer, chunk: pd.DataFrame) -> bool:
    """A recommender given users without items answers with their top-k items, not a row each."""
    items = scorer.preprocessing.items
    return scorer.task == "recommendation" and items is not None and items.column not in chunk.columns


def _labels(scorer: Scorer, chunk: pd.DataFrame, *, first_row: int) -> np.ndarray | None:
    """The chunk's target as the evaluation compares it (NaN or -1 where missing), or None."""
    target = scorer.preprocessing.target
    if target is None or target.column not in chunk.columns:
        return None
    rows = np.arange(first_row, first_row + len(chunk))
    if target.kind in ("regression", "rating"):
        return to_numbers(chunk[target.column], rows, what="numbers (it is the target)")
    return target.encode(chunk[target.column], rows, missing_ok=True).astype(np.float64)


def _predicted_class(scorer: Scorer, out: pd.DataFrame) -> np.ndarray:
    labels = scorer.preprocessing.target.labels
    return out[[f"prob_{label}" for label in labels]].to_numpy().argmax(axis=1).astype(np.float64)


def _evaluation(scorer: Scorer, scores: np.ndarray, truth: np.ndarray) -> dict[str, Any] | None:
    labelled = ~np.isnan(truth) & ((truth >= 0) | (scorer.task != "multiclass_classification"))  # multiclass: -1
    y, s = truth[labelled], scores[labelled]
    result: dict[str, Any] = {"labelled_rows": int(labelled.sum())}
    if not len(y):
        return result
    if scorer.task == "binary_classification":
        result["gains"] = gains_table(y, s)
        result["lift"] = lift_summary(y, s)
    elif scorer.task == "multiclass_classification":
        result["accuracy"] = float(np.mean(y == s))
    elif scorer.task in ("regression", "recommendation"):
        error = s - y
        result["rmse"] = float(np.sqrt(np.mean(error * error)))
        result["mae"] = float(np.mean(np.abs(error)))
    else:
        return None
    return result


def _segments(scorer: Scorer, segments: np.ndarray) -> list[dict[str, Any]]:
    labels = segments.astype(np.int64)
    k = max(len(scorer.manifest.get("segments") or []), int(labels.max()) + 1 if len(labels) else 0)
    sizes = np.bincount(labels, minlength=k)
    total = max(len(labels), 1)
    return [{"segment": s, "rows": int(size), "share": float(size / total)} for s, size in enumerate(sizes)]


@contextmanager
def _atomic_file(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`, renamed over it once the block finishes, removed if it fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield temporary
        with temporary.open("rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def _chunk_writer(fmt: OutputFormat, path: Path) -> Iterator[Callable[[pd.DataFrame], None]]:
    if fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as file:
            first = True

            def write_csv(out: pd.DataFrame) -> None:
                nonlocal first
                out.to_csv(file, header=first, index=False)
                first = False

            yield write_csv
        return
    writer: pq.ParquetWriter | None = None

    def write_parquet(out: pd.DataFrame) -> None:
        nonlocal writer
        if writer is None:
            table = pa.Table.from_pandas(out, preserve_index=False)
            writer = pq.ParquetWriter(path, table.schema)
        else:
            table = pa.Table.from_pandas(out, schema=writer.schema, preserve_index=False)
        writer.write_table(table)

    try:
        yield write_parquet
    finally:
        if writer is not None:
            writer.close()
