"""A training run's validation rows, kept beside it (validation-rows.npz) so that other models
can be scored on exactly the rows this one never trained on.

A challenger retrained on new data is compared with the champion on the challenger's own
validation rows (adamant/monitoring/policy.py): both scored by the same torch-free scorer, on
the same rows of the same table. The file holds the rows' 0-based positions in the table as
read, and the table's row count, which a scoring job checks before it trusts the positions.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from adamant.exceptions import DatasetError

HOLDOUT_FILE = "validation-rows.npz"


def write_holdout(run_dir: Path, val_rows: np.ndarray, table_rows: int) -> Path:
    path = Path(run_dir) / HOLDOUT_FILE
    temporary = path.with_name(f".{HOLDOUT_FILE}.{os.getpid()}.tmp.npz")
    np.savez(temporary, rows=np.asarray(val_rows, dtype=np.int64), table_rows=np.int64(table_rows))
    os.replace(temporary, path)
    return path


def holdout_rows(run_dir: Path, frame: pd.DataFrame, job_id: str) -> pd.DataFrame:
    """The rows of `frame` that training job `job_id` (whose run folder is `run_dir`) held out
    for validation; DatasetError when it kept none or the table is not the one it split."""
    path = Path(run_dir) / HOLDOUT_FILE
    if not path.is_file():
        raise DatasetError(f"job {job_id} kept no validation rows (trained before they were kept); "
                           "holdout_of needs a job trained since")
    with np.load(path) as stored:
        rows, table_rows = stored["rows"], int(stored["table_rows"])
    if table_rows != len(frame):
        raise DatasetError(f"the table has {len(frame):,} rows, but job {job_id} split a table of {table_rows:,}: "
                           "score the table it trained on")
    return frame.iloc[rows].reset_index(drop=True)
