"""The built-in datasets: real marketing data shipped with Adamant, named `builtin:<name>`.

Each entry says what it is for (task, target, columns to drop, the id column) so a user can
start from `dataset_spec()`. Files are read once per process and handed out as copies, so a
caller that edits its frame never changes what the next job sees.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from adamant.datasets import cdnow
from adamant.datasets.readers import read_table
from adamant.exceptions import DatasetError
from adamant.spec import DatasetSpec, Task

BUILTIN_DIR = Path(__file__).parent / "builtin"
BANK_MARKETING_FILE = BUILTIN_DIR / "bank-marketing" / "bank-additional-full.csv"


@dataclass(frozen=True)
class BuiltinDataset:
    name: str
    title: str
    description: str
    task: Task | None  # None: raw material for building a table, not a training table itself
    target: str | None
    drop: tuple[str, ...]
    id_column: str | None
    rows: int
    licence: str
    source: str
    citation: str
    loader: Callable[[], pd.DataFrame] = field(repr=False, compare=False)

    @property
    def ref(self) -> str:
        return f"builtin:{self.name}"

    def load(self) -> pd.DataFrame:
        # Copy-on-write (pandas >= 3) makes a shallow copy safe: edits copy, the cache stays.
        return self.loader().copy(deep=False)

    def dataset_spec(self) -> DatasetSpec:
        """The dataset part of a job spec that uses this table as intended."""
        return DatasetSpec(ref=self.ref, target=self.target, drop=list(self.drop), id_column=self.id_column)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "ref": self.ref,
            "title": self.title,
            "description": self.description,
            "task": self.task,
            "target": self.target,
            "drop": list(self.drop),
            "id_column": self.id_column,
            "rows": self.rows,
            "licence": self.licence,
            "source": self.source,
            "citation": self.citation,
        }


@functools.cache
def _bank_marketing() -> pd.DataFrame:
    return read_table(BANK_MARKETING_FILE, format="csv", delimiter=";")


@functools.cache
def _cdnow_transactions() -> pd.DataFrame:
    return cdnow.load_transactions()


@functools.cache
def _cdnow_rfm() -> pd.DataFrame:
    return cdnow.rfm_table(_cdnow_transactions(), cdnow.CALIBRATION_END)


@functools.cache
def _cdnow_spend() -> pd.DataFrame:
    return cdnow.spend_table(_cdnow_transactions())


_BANK_CITATION = (
    "S. Moro, P. Cortez and P. Rita. A Data-Driven Approach to Predict the Success of Bank "
    "Telemarketing. Decision Support Systems 62 (2014) 22-31. doi:10.1016/j.dss.2014.03.001"
)
_CDNOW_CITATION = (
    'P. S. Fader, B. G. S. Hardie and K. L. Lee. "Counting Your Customers" the Easy Way: An '
    "Alternative to the Pareto/NBD Model. Marketing Science 24(2): 275-284 (2005)."
)
_CDNOW_SOURCE = "CDNOW_master.txt from the PyPI wheel Lifetimes 0.11.3 (MIT licence), unmodified."
_CDNOW_LICENCE = "MIT (as redistributed by Lifetimes 0.11.3)"
_CALIBRATION = (
    f"calibration period {cdnow.CALIBRATION_START.date()}..{cdnow.CALIBRATION_END.date()} "
    "(the first 39 weeks); a purchase is a purchase day; frequency counts purchase days, the "
    "first included; monetary is the mean spend per purchase day; recency_days and tenure_days "
    "run from the last and first purchase to the calibration end."
)

BUILTIN: dict[str, BuiltinDataset] = {
    dataset.name: dataset
    for dataset in (
        BuiltinDataset(
            name="bank-marketing",
            title="Bank marketing: term-deposit subscription after a phone campaign",
            description=(
                "One row per phone contact of a Portuguese bank's campaigns (2008-2010); target y "
                "(yes/no, 11.3% yes): did the client subscribe? Drop `duration`: the call's length is "
                "known only after the call and decides y almost alone, so a model that uses it cannot "
                "score customers before calling them. pdays = 999 means 'not contacted before'; "
                "'unknown' marks missing categorical answers. No id column: scores are keyed by "
                "row number (row 1 = the first data row)."
            ),
            task="binary_classification",
            target="y",
            drop=("duration",),
            id_column=None,
            rows=41_188,
            licence="CC BY 4.0",
            source="UCI Machine Learning Repository, Bank Marketing, bank-additional-full.csv, unmodified.",
            citation=_BANK_CITATION,
            loader=_bank_marketing,
        ),
        BuiltinDataset(
            name="cdnow-transactions",
            title="CDNOW purchases, January 1997 - June 1998",
            description=(
                "Every purchase of the 23,570 customers who first bought at the online music store "
                "CDNOW in Q1 1997: customer_id (zero-padded text), date, number_of_cds, dollar_value. "
                "Raw material for customer tables; see cdnow-rfm and cdnow-spend."
            ),
            task=None,
            target=None,
            drop=(),
            id_column=None,
            rows=69_659,
            licence=_CDNOW_LICENCE,
            source=_CDNOW_SOURCE,
            citation=_CDNOW_CITATION,
            loader=_cdnow_transactions,
        ),
        BuiltinDataset(
            name="cdnow-rfm",
            title="CDNOW customers: recency, frequency, monetary (segmentation)",
            description=(
                "One row per CDNOW customer (23,570), described by the "
                + _CALIBRATION
                + " Columns: customer_id, recency_days, frequency, monetary, total_spend, tenure_days. No target."
            ),
            task="segmentation",
            target=None,
            drop=(),
            id_column="customer_id",
            rows=23_570,
            licence=_CDNOW_LICENCE,
            source=_CDNOW_SOURCE,
            citation=_CDNOW_CITATION,
            loader=_cdnow_rfm,
        ),
        BuiltinDataset(
            name="cdnow-spend",
            title="CDNOW customers: future spend from calibration-period behaviour (customer value)",
            description=(
                "The cdnow-rfm features plus the target future_spend: dollars spent from "
                f"{cdnow.HOLDOUT_START.date()} to the end of the data ({cdnow.HOLDOUT_END.date()}), 0 "
                "for customers who bought nothing (most of them). Features use the " + _CALIBRATION
            ),
            task="regression",
            target="future_spend",
            drop=(),
            id_column="customer_id",
            rows=23_570,
            licence=_CDNOW_LICENCE,
            source=_CDNOW_SOURCE,
            citation=_CDNOW_CITATION,
            loader=_cdnow_spend,
        ),
    )
}


def get_builtin(name: str) -> BuiltinDataset:
    try:
        return BUILTIN[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(BUILTIN), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DatasetError(f"Unknown built-in dataset {name!r}; {hint}known: {', '.join(sorted(BUILTIN))}") from None
