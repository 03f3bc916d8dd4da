"""Writes the dashboard's presets from examples/: the same spec files, and index.json describing them.

The dashboard ships inside the service package (the image has no examples/ folder), so the
presets are copies; this script makes them, and tests/test_presets.py fails when a copy and its
example drift apart. Run after changing an example: `.venv/bin/python scripts/presets.py`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
PRESETS = REPO / "service" / "dashboard" / "presets"

# The examples the dashboard offers, in its order, with the card's title and one line on the job.
# (movielens-recommendation.json is left out: its data cannot ship with the service.)
OFFERED = [
    ("bank-marketing-propensity.json", "Propensity",
     "Who will subscribe? Binary classification (MLP) on the built-in bank-marketing table; AUC, log-loss and lift."),
    ("cdnow-spend-regression.json", "Customer value",
     "How much will each customer spend next? Regression on built-in cdnow-spend (RFM features); RMSE and MAE."),
    ("cdnow-segmentation.json", "Segments",
     "Which groups do customers fall into? Autoencoder + k-means on built-in cdnow-rfm; segment sizes, profiles, silhouette."),
]


def expected_files() -> dict[str, str]:
    """File name -> the text each preset file should hold."""
    files = {name: (EXAMPLES / name).read_text() for name, _, _ in OFFERED}
    index = [{"file": name, "job": job, "summary": summary} for name, job, summary in OFFERED]
    files["index.json"] = json.dumps(index, indent=2) + "\n"
    return files


def stale_files() -> list[str]:
    """Presets missing, different from their example, or no longer offered."""
    expected = expected_files()
    present = {path.name for path in PRESETS.glob("*.json")}
    differing = [name for name, text in expected.items() if not (PRESETS / name).is_file() or (PRESETS / name).read_text() != text]
    return sorted(differing + sorted(present - set(expected)))


def write() -> None:
    for path in PRESETS.glob("*.json"):
        path.unlink()
    for name, text in expected_files().items():
        (PRESETS / name).write_text(text)


if __name__ == "__main__":
    if "--check" in sys.argv:
        stale = stale_files()
        print("presets up to date" if not stale else f"stale presets: {', '.join(stale)} (run scripts/presets.py)")
        sys.exit(1 if stale else 0)
    write()
    print(f"wrote {len(expected_files())} files to {PRESETS.relative_to(REPO)}")
