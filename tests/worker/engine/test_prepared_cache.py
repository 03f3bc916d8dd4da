"""Training through the prepared-data cache: runs that differ in what preparation ignores prepare once
and train exactly as they would without the cache, reference profile included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from adamant.datasets import load_dataset
from adamant.monitoring.reference import REFERENCE_FILE, build_reference
from adamant.preparation import PreparedDataCache, prepare_training_data
from adamant.settings import get_settings
from adamant.spec import JobSpec
from worker.engine.reporting import RecordingReporter
from worker.engine.run import run_training

GIB = 1024**3


def job(task: str = "binary_classification", **overrides: Any) -> JobSpec:
    spec: dict[str, Any] = {
        "task": task,
        "dataset": {"ref": "file:customers.csv", "target": "converted", "id_column": "customer_id"},
        "model": {"type": "mlp", "hidden": [16, 8]},
        "training": {"epochs": 2, "batch_size": 64, "seed": 3},
        "resources": {"device": "cpu"},
    }
    if task == "segmentation":
        spec["dataset"] = {"ref": "file:customers.csv", "id_column": "customer_id", "drop": ["converted"]}
        spec["model"] = {"type": "autoencoder", "segments": 3}
    for path, value in overrides.items():
        *parents, leaf = path.split(".")
        node = spec
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return JobSpec.model_validate(spec)


@pytest.fixture
def root(tmp_path: Path, customers: pd.DataFrame) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    customers.to_csv(folder / "customers.csv", index=False)
    return folder


def train_run(spec: JobSpec, run_dir: Path, root: Path, cache: PreparedDataCache | None) -> tuple[Any, RecordingReporter, dict]:
    reporter = RecordingReporter()
    result = run_training(spec, run_dir, reporter, file_roots=[root], resume=False, prepared_cache=cache)
    return result, reporter, json.loads((run_dir / REFERENCE_FILE).read_text())


def cache_lines(reporter: RecordingReporter) -> list[str]:
    return [m for m in reporter.messages if m.startswith("prepared data")]


def test_two_runs_with_different_lr_prepare_once_and_train_as_without_the_cache(root: Path, tmp_path: Path) -> None:
    cache = PreparedDataCache(tmp_path / "cache", GIB)
    specs = [job(**{"optimizer.lr": 1e-3}), job(**{"optimizer.lr": 3e-3})]

    cached = [train_run(spec, tmp_path / f"cached-{i}", root, cache) for i, spec in enumerate(specs)]
    plain = [train_run(spec, tmp_path / f"plain-{i}", root, None) for i, spec in enumerate(specs)]

    (first,), (second,) = (cache_lines(reporter) for _, reporter, _ in cached)
    key = cache.entries()[0][0]
    assert first.startswith("prepared data in ") and first.endswith(f"cached as {key[:12]}")
    assert second.startswith(f"prepared data from cache {key[:12]} (2000 rows, ")
    assert all(cache_lines(reporter) == [] for _, reporter, _ in plain)
    for (with_cache, _, with_profile), (without, _, without_profile) in zip(cached, plain, strict=True):
        assert with_cache.best_metrics == without.best_metrics
        assert with_cache.last_metrics == without.last_metrics
        for profile in (with_profile, without_profile):
            profile["scores_from"].pop("manifest_sha256")  # the manifest records when it was written
        assert with_profile == without_profile
    assert cached[0][0].best_metrics != cached[1][0].best_metrics  # the lr did make a difference


def test_the_reference_profile_is_the_one_built_from_the_table(root: Path, tmp_path: Path) -> None:
    cache = PreparedDataCache(tmp_path / "cache", GIB)
    spec = job()
    train_run(spec, tmp_path / "first", root, cache)
    result, _, profile = train_run(spec, tmp_path / "second", root, cache)  # from the cache

    frame = load_dataset(spec.dataset, file_roots=[root])
    data = prepare_training_data(spec, frame)
    checkpoint = result.best_checkpoint
    assert checkpoint is not None and checkpoint.is_relative_to(tmp_path / "second")
    assert profile == json.loads(json.dumps(build_reference(frame, data.train_rows, data.val_rows, checkpoint)))
    assert profile["score"] is not None and profile["scores_from"]["validation_rows"] == len(data.val_rows)


def test_segmentation_from_the_cache_still_profiles_its_segments(root: Path, tmp_path: Path) -> None:
    cache = PreparedDataCache(tmp_path / "cache", GIB)
    spec = job("segmentation")
    first, _, _ = train_run(spec, tmp_path / "first", root, cache)
    second, reporter, _ = train_run(spec.model_copy(update={"optimizer": spec.optimizer.model_copy(update={"lr": 2e-3})}),
                                    tmp_path / "second", root, cache)

    assert cache_lines(reporter)[0].startswith("prepared data from cache")
    assert all(segment["profile"] for segment in second.summary["segments"])
    assert [s["profile"].keys() for s in first.summary["segments"]] == [s["profile"].keys() for s in second.summary["segments"]]


def test_by_default_the_cache_lives_under_adamant_home_and_zero_turns_it_off(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADAMANT_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    try:
        reporter = RecordingReporter()
        run_training(job(), tmp_path / "run", reporter, file_roots=[root], resume=False)
        assert cache_lines(reporter)[0].startswith("prepared data in ")
        assert len(PreparedDataCache(tmp_path / "home" / "cache" / "prepared", GIB).entries()) == 1

        monkeypatch.setenv("ADAMANT_PREPARED_CACHE_BYTES", "0")
        get_settings.cache_clear()
        reporter = RecordingReporter()
        run_training(job(), tmp_path / "off", reporter, file_roots=[root], resume=False)
        assert cache_lines(reporter) == []
    finally:
        get_settings.cache_clear()


def test_a_cache_folder_that_cannot_be_written_costs_the_cache_not_the_run(root: Path, tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("")
    reporter = RecordingReporter()
    result = run_training(job(), tmp_path / "run", reporter, file_roots=[root], resume=False,
                          prepared_cache=PreparedDataCache(tmp_path / "not-a-folder" / "cache", GIB))
    assert result.stop_reason == "completed"
    assert any(m.startswith("warning: prepared-data cache unavailable") for m in reporter.messages)
    assert (tmp_path / "run" / REFERENCE_FILE).exists()
