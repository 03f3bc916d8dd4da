"""Data preparation shared by worker and service (torch-free): columns, splits, and the preprocessing saved with each model."""

from adamant.preparation.cache import PreparedDataCache, preparation_key
from adamant.preparation.columns import ColumnSelection, select_columns
from adamant.preparation.prepare import PreparedData, prepare_training_data
from adamant.preparation.preprocessing import PreparedRows, Preprocessing
from adamant.preparation.split import split_rows

__all__ = [
    "ColumnSelection",
    "PreparedData",
    "PreparedDataCache",
    "PreparedRows",
    "Preprocessing",
    "prepare_training_data",
    "preparation_key",
    "select_columns",
    "split_rows",
]
