"""Datasets: reading users' files, the built-in catalogue, and resolving a spec's reference to a table."""

from adamant.datasets.catalogue import BUILTIN, BuiltinDataset, get_builtin
from adamant.datasets.cdnow import future_spend, rfm_table
from adamant.datasets.readers import read_table
from adamant.datasets.resolve import load_dataset, resolve_file, resolve_reference
from adamant.datasets.schema import column_kind, describe_table, json_value

__all__ = [
    "BUILTIN",
    "BuiltinDataset",
    "column_kind",
    "describe_table",
    "future_spend",
    "get_builtin",
    "json_value",
    "load_dataset",
    "read_table",
    "resolve_file",
    "resolve_reference",
    "rfm_table",
]
