"""The reference a trained model is monitored against, kept beside its run: reference-profile.json.

Written once at the end of training (worker/engine/run.py) and read by every scoring
job of that model (worker/scoring_job.py), which compares the table it scores with it. It
holds the training rows' feature profile and the distribution of the model's scores on the
validation rows — scored by the torch-free scorer from the checkpoint that scoring uses by
default (best, else the newest), so later score drift compares like with like. A sidecar
rather than a manifest entry: checkpoints keep their sha256, and an older run without the
file simply has no drift report.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adamant.checkpoint_files import MANIFEST, sha256_of
from adamant.monitoring.profile import PROFILE_VERSION, reference_profile
from adamant.scoring.scorer import load_scorer, score_frame
from adamant.scoring.table import SCORE_COLUMNS

REFERENCE_FILE = "reference-profile.json"


def build_reference(
    frame: pd.DataFrame, train_rows: np.ndarray, val_rows: np.ndarray, checkpoint_dir: Path
) -> dict[str, Any]:
    """The profile of the training rows, with the checkpoint's scores on the validation rows."""
    scorer = load_scorer(checkpoint_dir)
    score_column = SCORE_COLUMNS.get(scorer.task)
    scores = None
    if score_column is not None and len(val_rows):
        scored = score_frame(scorer, frame.iloc[val_rows])
        if score_column in scored.columns and len(scored) == len(val_rows):
            scores = scored[score_column].to_numpy(dtype=np.float64)
    profile = reference_profile(frame.iloc[train_rows], scorer.preprocessing, scores=scores)
    profile["scores_from"] = {
        "checkpoint_step": int(scorer.manifest.get("step", 0)),
        "manifest_sha256": sha256_of(Path(checkpoint_dir) / MANIFEST),
        "validation_rows": int(len(val_rows)) if scores is not None else 0,
    }
    return profile


def write_reference(run_dir: Path, profile: dict[str, Any]) -> Path:
    """Write the profile to run_dir/reference-profile.json atomically (a temporary file renamed over it)."""
    path = Path(run_dir) / REFERENCE_FILE
    temporary = path.with_name(f".{REFERENCE_FILE}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(profile, allow_nan=False))
    os.replace(temporary, path)
    return path


def read_reference(run_dir: Path) -> dict[str, Any] | None:
    """The run's reference profile, or None when the run has none (or one of another version)."""
    try:
        profile = json.loads((Path(run_dir) / REFERENCE_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return profile if isinstance(profile, dict) and profile.get("version") == PROFILE_VERSION else None
