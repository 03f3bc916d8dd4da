"""What `adamant status` and `--follow` say about a job's progress, from the job's JSON."""

from __future__ import annotations

from client.display import data_phase_text, progress_text

READING = {"step": 0, "total_steps": None, "epoch": 0.0, "total_epochs": 10, "fraction": 0.0, "eta_s": None,
           "data": {"phase": "reading", "rows_read": 1_200_000, "rows_total": 10_000_000, "rows_per_s": 850_000.0,
                    "eta_s": 11.0}}


def test_a_job_reading_its_table_shows_rows_rate_and_eta() -> None:
    assert progress_text(READING) == "reading 1,200,000/10,000,000 rows, 850,000 rows/s, ETA 0:11"


def test_preparing_without_a_total_shows_the_rows_only() -> None:
    progress = {**READING, "data": {"phase": "preparing", "rows_read": 41_188, "rows_total": None,
                                    "rows_per_s": None, "eta_s": None}}
    assert data_phase_text(progress) == "preparing 41,188 rows"


def test_once_training_runs_the_steps_are_shown_not_the_data_phase() -> None:
    training = {**READING, "step": 40, "total_steps": 400, "epoch": 1.0, "fraction": 0.1, "eta_s": 30.0,
                "data": {**READING["data"], "phase": "ready"}}
    assert data_phase_text(training) is None
    assert progress_text(training) == "step 40/400, epoch 1.00/10, 10%, ETA 0:30"
