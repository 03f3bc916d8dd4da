"""The reference profile sidecar: written atomically beside a run, read back or absent."""

from __future__ import annotations

import json
from pathlib import Path

from adamant.monitoring.profile import PROFILE_VERSION, reference_profile
from adamant.monitoring.reference import REFERENCE_FILE, read_reference, write_reference
from adamant.preparation import prepare_training_data
from adamant.spec import JobSpec
from support.data import synthetic_customers


def test_a_written_profile_reads_back_and_a_missing_or_foreign_one_is_none(tmp_path: Path) -> None:
    frame = synthetic_customers(500)
    spec = JobSpec.model_validate({"task": "binary_classification", "model": {"type": "logistic"},
                                   "dataset": {"ref": "builtin:x", "target": "converted", "id_column": "customer_id"}})
    profile = reference_profile(frame, prepare_training_data(spec, frame).preprocessing)
    assert read_reference(tmp_path) is None
    write_reference(tmp_path, profile)
    assert read_reference(tmp_path) == json.loads(json.dumps(profile))
    assert [p.name for p in tmp_path.iterdir()] == [REFERENCE_FILE]  # no temporary left behind
    (tmp_path / REFERENCE_FILE).write_text(json.dumps({**profile, "version": PROFILE_VERSION + 1}))
    assert read_reference(tmp_path) is None
    (tmp_path / REFERENCE_FILE).write_text("{torn")
    assert read_reference(tmp_path) is None


def test_the_profile_of_some_rows_by_position_equals_the_profile_of_those_rows_copied() -> None:
    frame = synthetic_customers(2_000)
    spec = JobSpec.model_validate({"task": "binary_classification", "model": {"type": "logistic"},
                                   "dataset": {"ref": "builtin:x", "target": "converted", "id_column": "customer_id"}})
    data = prepare_training_data(spec, frame)

    by_position = reference_profile(frame, data.preprocessing, positions=data.train_rows)
    copied = reference_profile(frame.iloc[data.train_rows], data.preprocessing)
    assert by_position["rows"] == len(data.train_rows) < len(frame)
    assert json.dumps(by_position, sort_keys=True) == json.dumps(copied, sort_keys=True)
