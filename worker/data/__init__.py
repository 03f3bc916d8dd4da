"""The worker's data: choosing columns, splitting, and the preprocessing saved with each model."""

from worker.data.columns import ColumnSelection, select_columns
from worker.data.prepare import PreparedData, prepare_training_data
from worker.data.preprocessing import Preprocessing, PreparedRows
from worker.data.split import split_rows

__all__ = [
    "ColumnSelection",
    "PreparedData",
    "PreparedRows",
    "Preprocessing",
    "prepare_training_data",
    "select_columns",
    "split_rows",
]
