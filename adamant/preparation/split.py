"""The training/validation split: seeded, and stratified by class when asked.

The same seed and table always give the same rows (numpy's PCG64 Generator). A stratified
split draws round(fraction x class size) validation rows from each class separately, so
each class's validation share is within one row of `fraction`; a class with a single row stays
in training. Both parts come back as sorted row positions, so rows keep the file's order.
Recommendation uses the plain random split over rating rows (see adamant/preparation/prepare.py).
A user's own split (dataset.validation.column) replaces the draw: `split_by_column`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adamant.exceptions import DatasetError

VALIDATION_MARKS = {"1", "1.0", "true", "t", "yes", "y", "val", "valid", "validation", "test", "holdout"}


def split_rows(
    n_rows: int,
    fraction: float,
    seed: int,
    strata: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) row positions, 0-based, sorted, disjoint, covering every row."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    if n_rows < 2:
        raise DatasetError(f"The table has {n_rows} row(s); a training and a validation part need at least 2")
    rng = np.random.default_rng(seed)
    if strata is None:
        n_val = min(max(_round_half_up(n_rows * fraction), 1), n_rows - 1)
        validation = rng.permutation(n_rows)[:n_val]
    else:
        validation = _stratified(np.asarray(strata), fraction, rng)
        if validation.size == 0:
            raise DatasetError(
                f"The table has too few rows per class to hold out {fraction:.0%} for validation; "
                "add rows or raise dataset.validation.fraction"
            )
    validation = np.sort(validation)
    is_validation = np.zeros(n_rows, dtype=bool)
    is_validation[validation] = True
    return np.flatnonzero(~is_validation), validation


def _stratified(strata: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    picked = []
    for members in _members_by_class(strata):  # classes in sorted order: deterministic draws
        size = members.size
        n_val = min(_round_half_up(size * fraction), size - 1)
        picked.append(rng.permutation(members)[:n_val])
    return np.concatenate(picked) if picked else np.empty(0, dtype=np.int64)


def _members_by_class(strata: np.ndarray, scan_below: int = 16) -> list[np.ndarray]:
    """Each class's row positions in ascending order, the classes sorted (what a stable argsort of
    np.unique's inverse gives): hashed rather than sorted, and a scan per class when there are few
    (10M rows of two classes: ~0.2 s against ~3 s sorting)."""
    codes, uniques = pd.factorize(strata, sort=True)
    if len(uniques) < scan_below:
        return [np.flatnonzero(codes == code) for code in range(len(uniques))]
    by_class = np.argsort(codes, kind="stable")
    return np.split(by_class, np.cumsum(np.bincount(codes, minlength=len(uniques)))[:-1])


def _round_half_up(value: float) -> int:
    return int(np.floor(value + 0.5))


def split_by_column(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) from a column marking validation rows (true/1/yes/validation/test)."""
    marks = validation_marks(column)
    if marks.all() or not marks.any():
        part = "every" if marks.all() else "no"
        raise DatasetError(
            f"dataset.validation.column marks {part} row for validation; it needs rows of both kinds "
            f"(validation rows read one of {sorted(VALIDATION_MARKS)})",
            column=str(column.name),
        )
    return np.flatnonzero(~marks), np.flatnonzero(marks)


def validation_marks(column: pd.Series) -> np.ndarray:
    """True for each cell of `column` that marks its row for validation (see VALIDATION_MARKS)."""
    return column.astype(str).str.strip().str.lower().isin(VALIDATION_MARKS).to_numpy()
