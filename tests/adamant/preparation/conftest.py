from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from adamant.datasets import get_builtin, read_table
from adamant.preparation import PreparedData, prepare_training_data
from adamant.spec import JobSpec

MODEL_FOR_TASK = {
    "binary_classification": {"type": "mlp"},
    "multiclass_classification": {"type": "mlp"},
    "regression": {"type": "mlp"},
    "recommendation": {"type": "matrix_factorization"},
    "segmentation": {"type": "autoencoder"},
}


def job_spec(task: str = "binary_classification", **dataset: object) -> JobSpec:
    """A JobSpec for `task` whose dataset part is `dataset` (ref defaults to a file name)."""
    dataset.setdefault("ref", "file:table.csv")
    return JobSpec(task=task, dataset=dataset, model=MODEL_FOR_TASK[task])


@pytest.fixture(scope="session")
def make_spec() -> Callable[..., JobSpec]:
    return job_spec


@pytest.fixture(scope="session")
def bank() -> pd.DataFrame:
    return get_builtin("bank-marketing").load()


@pytest.fixture(scope="session")
def bank_prepared(bank: pd.DataFrame) -> PreparedData:
    """bank-marketing as a realistic propensity job: duration dropped, stratified 80/20 split."""
    return prepare_training_data(job_spec(ref="builtin:bank-marketing", target="y", drop=["duration"]), bank)


@pytest.fixture(scope="session")
def movielens(movielens_path: Path) -> pd.DataFrame:
    frame = read_table(movielens_path)  # no header: columns come back as column_1..column_4
    return frame.set_axis(["user_id", "item_id", "rating", "timestamp"], axis=1)
