"""One training run from a spec: load the data, prepare it, build, train, write the result.

This is the plain function under both the CLI (`adamant train`) and the Celery task; neither
adds logic of its own. The run directory holds spec.json, checkpoints/, best/, result.json and,
once training ends, reference-profile.json: what batch scoring later checks its tables against
for drift (adamant/monitoring/reference.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from adamant.datasets import load_dataset
from adamant.model_size import check_model_size, prepared_shape
from adamant.monitoring.reference import build_reference, write_reference
from adamant.preparation import PreparedData, prepare_training_data
from adamant.spec import JobSpec
from worker.engine.checkpoints import latest_valid_checkpoint
from worker.engine.reporting import NullReporter, Reporter
from worker.engine.setup import build_setup
from worker.engine.trainer import TrainResult, train


def load_training_data(
    spec: JobSpec, *, file_roots: list[Path], uploads: Callable[[str], Path] | None = None
) -> tuple[pd.DataFrame, PreparedData]:
    frame = load_dataset(spec.dataset, file_roots=file_roots, uploads=uploads)
    return frame, prepare_training_data(spec, frame)


def run_training(
    spec: JobSpec,
    run_dir: Path,
    reporter: Reporter | None = None,
    *,
    file_roots: list[Path],
    uploads: Callable[[str], Path] | None = None,
    init_from: Path | None = None,
    resume: bool = True,
    max_parameters: int | None = None,
    max_memory_bytes: int | None = None,
) -> TrainResult:
    """With max_parameters (the worker passes its settings'), a model past the size limits is
    ModelTooLarge before anything is allocated: the user's error, recorded once."""
    reporter = reporter or NullReporter()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "spec.json").write_text(spec.model_dump_json(indent=2))
    started = time.monotonic()
    frame, data = load_training_data(spec, file_roots=file_roots, uploads=uploads)
    reporter.log(
        f"data: {len(data.train_rows)} training rows, {len(data.val_rows)} validation rows, "
        f"{data.n_features} features"
        + (f", {data.n_users} users x {data.n_items} items" if spec.task == "recommendation" else "")
        + f" (loaded in {time.monotonic() - started:.1f}s)"
    )
    for column, reason in data.excluded_columns.items():
        reporter.log(f"column {column!r} not used as a feature: {reason}")
    if max_parameters is not None:
        check_model_size(spec, prepared_shape(spec, data), max_parameters=max_parameters,
                         max_memory_bytes=max_memory_bytes if max_memory_bytes is not None else 2**63)
    setup = build_setup(spec, data, init_from=init_from, frame=frame)
    reporter.log(f"device: {setup.device}; model: {sum(p.numel() for p in setup.model.parameters())} parameters")
    result = train(setup, run_dir, reporter, resume=resume)
    if result.stop_reason != "cancelled":
        save_reference(run_dir, frame, data, result.best_checkpoint or latest_valid_checkpoint(run_dir), reporter)
    (run_dir / "result.json").write_text(json.dumps(_jsonable(asdict(result)), indent=2))
    return result


def save_reference(
    run_dir: Path, frame: pd.DataFrame, data: PreparedData, checkpoint: Path | None, reporter: Reporter
) -> None:
    """Profile the training rows and the checkpoint's validation scores for later drift reports.

    Monitoring is an addition to a model, not part of it: a profile that cannot be made is
    logged as a warning, and scoring jobs of this run then report no drift.
    """
    if checkpoint is None:
        return
    started = time.monotonic()
    try:
        profile = build_reference(frame, data.train_rows, data.val_rows, checkpoint)
        write_reference(run_dir, profile)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        reporter.log(f"warning: no reference profile for drift monitoring: {type(exc).__name__}: {exc}")
        return
    reporter.log(
        f"reference profile for drift monitoring: {len(profile['features'])} features over {profile['rows']} "
        f"training rows, scores of {profile['scores_from']['validation_rows']} validation rows "
        f"({time.monotonic() - started:.1f}s)"
    )


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and value != value:
        return None
    return value
