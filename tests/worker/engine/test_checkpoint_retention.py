"""The engine's retention while a job trains: the newest keep_last checkpoints and the best."""

from __future__ import annotations

from pathlib import Path

from worker.engine import checkpoints as ckpt


def written(run_dir: Path, step: int) -> Path:
    directory = ckpt.step_directory(run_dir, step)
    directory.mkdir(parents=True)
    (directory / "manifest.json").write_text("{}")
    return directory


def test_pruning_keeps_the_best_and_the_last_n(tmp_path: Path) -> None:
    for step in (10, 20, 30, 40, 50):
        written(tmp_path, step)

    gone = ckpt.prune_checkpoints(tmp_path, keep_last=2, keep=ckpt.step_directory(tmp_path, 20))

    assert [p.name for p in gone] == ["step-00000010", "step-00000030"]
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step-00000020", "step-00000040", "step-00000050"]


def test_without_a_best_only_the_last_n_stay(tmp_path: Path) -> None:
    for step in (1, 2, 3):
        written(tmp_path, step)
    ckpt.prune_checkpoints(tmp_path, keep_last=1)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step-00000003"]
