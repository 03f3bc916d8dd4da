"""One training run from a spec: load the data, prepare it, build, train, write the result.

This is the plain function under both the CLI (`adamant train`) and the Celery task; neither
adds logic of its own. The run directory holds spec.json, checkpoints/, best/ and result.json.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from adamant.datasets import load_dataset
from adamant.spec import JobSpec
from adamant.preparation import PreparedData, prepare_training_data
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
) -> TrainResult:
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
    setup = build_setup(spec, data, init_from=init_from, frame=frame)
    reporter.log(f"device: {setup.device}; model: {sum(p.numel() for p in setup.model.parameters())} parameters")
    result = train(setup, run_dir, reporter, resume=resume)
    (run_dir / "result.json").write_text(json.dumps(_jsonable(asdict(result)), indent=2))
    return result


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
