"""A job on a large table says that its numeric statistics come from a sample, and profiles those rows."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from adamant.monitoring.reference import REFERENCE_FILE
from adamant.preparation import prepare as prepare_module
from adamant.spec import JobSpec
from worker.engine.reporting import RecordingReporter
from worker.engine.run import run_training


def test_the_log_names_the_sample_and_the_reference_profile_covers_it(
    tmp_path: Path, customers: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prepare_module, "FIT_SAMPLE_ROWS", 500)
    customers.to_csv(tmp_path / "customers.csv", index=False)
    spec = JobSpec.model_validate({
        "task": "binary_classification",
        "dataset": {"ref": "file:customers.csv", "target": "converted", "id_column": "customer_id"},
        "model": {"type": "logistic"},
        "training": {"epochs": 1, "batch_size": 256},
        "resources": {"device": "cpu"},
    })
    reporter = RecordingReporter()
    # No prepared-data cache: another test's entry for the same table was prepared without the
    # patched sample size (a real change of FIT_SAMPLE_ROWS edits prepare.py, which the key covers).
    run_training(spec, tmp_path / "run", reporter, file_roots=[tmp_path], resume=False, prepared_cache=None)

    training_rows = round(len(customers) * 0.8)
    expected = f"numeric statistics fitted on a random sample of 500 of the {training_rows:,} training rows"
    assert any(message.startswith(expected) for message in reporter.messages), reporter.messages
    assert json.loads((tmp_path / "run" / REFERENCE_FILE).read_text())["rows"] == 500
