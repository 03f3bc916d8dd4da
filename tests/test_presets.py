"""The dashboard's presets are generated from examples/ (scripts/presets.py), never edited apart."""

from __future__ import annotations

import json
import runpy
import shutil
from pathlib import Path

from support.data import REPO

presets = runpy.run_path(str(REPO / "scripts" / "presets.py"), run_name="presets")


def test_each_preset_is_its_example_and_the_index_lists_them_in_order() -> None:
    assert presets["stale_files"]() == [], "run .venv/bin/python scripts/presets.py"
    index = json.loads((presets["PRESETS"] / "index.json").read_text())
    assert [entry["file"] for entry in index] == [name for name, _, _ in presets["OFFERED"]]


def test_an_example_changed_without_regenerating_is_caught(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    examples = tmp_path / "examples"
    shutil.copytree(presets["EXAMPLES"], examples)
    spec = json.loads((examples / "cdnow-segmentation.json").read_text())
    spec["training"]["epochs"] = 7
    (examples / "cdnow-segmentation.json").write_text(json.dumps(spec))
    check = presets["stale_files"]
    monkeypatch.setitem(check.__globals__, "EXAMPLES", examples)
    assert check() == ["cdnow-segmentation.json"]
