"""A run's validation rows, kept beside it, pick exactly those rows of the same table, and refuse
a table that is not the one it split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adamant.exceptions import DatasetError
from adamant.monitoring.holdout import holdout_rows, write_holdout


def test_the_kept_rows_are_the_validation_rows_of_that_table_and_no_other(tmp_path: Path) -> None:
    table = pd.DataFrame({"customer": [f"c{i}" for i in range(10)], "spend": np.arange(10.0)})
    write_holdout(tmp_path, np.array([1, 4, 7]), table_rows=10)
    assert holdout_rows(tmp_path, table, "job_a")["customer"].tolist() == ["c1", "c4", "c7"]
    with pytest.raises(DatasetError, match="the table has 9 rows, but job job_a split a table of 10"):
        holdout_rows(tmp_path, table.iloc[:9], "job_a")
    with pytest.raises(DatasetError, match="kept no validation rows"):
        holdout_rows(tmp_path / "elsewhere", table, "job_b")
