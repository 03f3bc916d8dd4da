"""The prepared-data cache: a hit gives what preparing gives, and anything preparation reads is in the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from adamant.datasets import load_dataset
from adamant.preparation import PreparedData, PreparedDataCache, prepare_training_data
from adamant.preparation.cache import NotCacheable, dataset_identity, file_sha256
from adamant.spec import JobSpec
from support.data import REPO, synthetic_customers

GIB = 1024**3


def spec_for(**overrides: Any) -> JobSpec:
    spec: dict[str, Any] = {
        "task": "binary_classification",
        "dataset": {"ref": "file:customers.csv", "target": "converted", "id_column": "customer_id"},
        "model": {"type": "mlp", "hidden": [16, 8]},
    }
    for path, value in overrides.items():
        *parents, leaf = path.split(".")
        node = spec
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return JobSpec.model_validate(spec)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    synthetic_customers(rows=600).to_csv(tmp_path / "customers.csv", index=False)
    return tmp_path


@pytest.fixture
def cache(tmp_path: Path) -> PreparedDataCache:
    return PreparedDataCache(tmp_path / "cache", 1 * GIB)


def prepared(cache: PreparedDataCache, spec: JobSpec, root: Path) -> tuple[PreparedData, bool]:
    """(the data, whether it came from the cache), as the engine gets it."""
    key = cache.key_for(spec, file_roots=[root])
    assert key is not None
    hit = cache.get(key)
    if hit is not None:
        return hit.data, True
    data = prepare_training_data(spec, load_dataset(spec.dataset, file_roots=[root]))
    assert cache.put(key, data) is None
    return data, False


def assert_same(a: PreparedData, b: PreparedData) -> None:
    for f in fields(PreparedData):
        left, right = getattr(a, f.name), getattr(b, f.name)
        if f.name == "preprocessing":
            assert left.to_dict() == right.to_dict()
        elif isinstance(left, np.ndarray):
            assert isinstance(right, np.ndarray) and left.dtype == right.dtype, f.name
            np.testing.assert_array_equal(left, right, err_msg=f.name)
        else:
            assert left == right, f.name


def test_the_same_spec_twice_is_a_hit_with_the_arrays_of_the_first(cache: PreparedDataCache, root: Path) -> None:
    first, first_hit = prepared(cache, spec_for(), root)
    second, second_hit = prepared(cache, spec_for(), root)

    assert (first_hit, second_hit) == (False, True)
    assert_same(first, second)
    assert second.ids_val.dtype == object and second.ids_val[0].startswith("c")  # text ids come back as text
    assert len(cache.entries()) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"dataset.validation.seed": 1},
        {"dataset.validation.fraction": 0.3},
        {"dataset.validation.stratify": False},
        {"dataset.target": "channel", "task": "multiclass_classification"},
        {"dataset.drop": ["age"]},
        {"dataset.features": ["age", "spend"]},
        {"dataset.id_column": None},
        {"dataset.format": "csv"},
        {"task": "segmentation", "dataset.target": None, "model": {"type": "autoencoder"}},
    ],
    ids=lambda change: ",".join(change),
)
def test_what_preparation_reads_is_a_miss(cache: PreparedDataCache, root: Path, change: dict[str, Any]) -> None:
    prepared(cache, spec_for(), root)
    _, hit = prepared(cache, spec_for(**change), root)

    assert not hit
    assert len(cache.entries()) == 2


def test_new_bytes_in_the_file_are_a_miss_and_prepared_from_the_new_bytes(cache: PreparedDataCache, root: Path) -> None:
    prepared(cache, spec_for(), root)
    synthetic_customers(rows=600, seed=1).to_csv(root / "customers.csv", index=False)

    data, hit = prepared(cache, spec_for(), root)

    assert not hit
    assert_same(data, prepare_training_data(spec_for(), load_dataset(spec_for().dataset, file_roots=[root])))


@pytest.mark.parametrize(
    "change",
    [
        {"optimizer.lr": 0.01},
        {"optimizer.name": "sgd"},
        {"optimizer.weight_decay": 0.1, "optimizer.amsgrad": True},
        {"training.epochs": 3, "training.batch_size": 32, "training.seed": 7},
        {"schedule.type": "cosine"},
        {"model": {"type": "mlp", "hidden": [64], "dropout": 0.3, "batch_norm": True}},
        {"model": {"type": "logistic"}},
        {"name": "trial 7", "resources.device": "cpu", "checkpointing.keep_last": 1},
    ],
    ids=lambda change: ",".join(change),
)
def test_what_preparation_ignores_is_a_hit(cache: PreparedDataCache, root: Path, change: dict[str, Any]) -> None:
    prepared(cache, spec_for(), root)
    _, hit = prepared(cache, spec_for(**change), root)
    assert hit


def test_the_same_bytes_under_another_name_share_the_entry(cache: PreparedDataCache, root: Path) -> None:
    prepared(cache, spec_for(), root)
    (root / "copy.csv").write_bytes((root / "customers.csv").read_bytes())
    _, hit = prepared(cache, spec_for(**{"dataset.ref": "file:copy.csv"}), root)
    assert hit


def test_builtin_datasets_are_keyed_by_name_and_packaged_files(tmp_path: Path) -> None:
    rfm = JobSpec.model_validate({"task": "segmentation", "dataset": {"ref": "builtin:cdnow-rfm", "id_column": "customer_id"},
                                   "model": {"type": "autoencoder"}})
    other = rfm.model_copy(update={"dataset": rfm.dataset.model_copy(update={"ref": "builtin:cdnow-spend"})})
    first, second = (dataset_identity(s, file_roots=[]) for s in (rfm, other))
    assert first is not None and second is not None
    assert first["builtin"] == "cdnow-rfm" and second["builtin"] == "cdnow-spend"
    assert first["files"] == second["files"] and any(name.startswith("cdnow/") for name in first["files"])


def test_a_reference_the_cache_cannot_identify_has_no_key(cache: PreparedDataCache, root: Path) -> None:
    assert cache.key_for(spec_for(**{"dataset.ref": "file:missing.csv"}), file_roots=[root]) is None
    assert cache.key_for(spec_for(**{"dataset.ref": "builtin:no-such"}), file_roots=[root]) is None


def test_a_file_is_hashed_again_only_when_its_size_or_mtime_changes(tmp_path: Path) -> None:
    path, hashes = tmp_path / "t.csv", tmp_path / "hashes"
    path.write_text("a,b\n1,2\n")
    first = file_sha256(path, hashes)
    (record,) = hashes.iterdir()
    stored = json.loads(record.read_text())
    record.write_text(json.dumps({**stored, "sha256": "remembered"}))
    assert file_sha256(path, hashes) == "remembered"  # same size and mtime: not read again

    path.write_text("a,b\n1,3\n")
    os.utime(path, ns=(stored["mtime_ns"] + 10**9, stored["mtime_ns"] + 10**9))
    assert file_sha256(path, hashes) not in (first, "remembered")


@pytest.mark.parametrize("damage", ["truncate", "flip", "meta"])
def test_a_damaged_entry_is_removed_and_prepared_again(cache: PreparedDataCache, root: Path, damage: str) -> None:
    original, _ = prepared(cache, spec_for(), root)
    (key, _, _), = cache.entries()
    entry = cache.root / key
    if damage == "truncate":
        path = entry / "numbers_train.npy"
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "flip":
        path = entry / "y_val.npy"
        raw = bytearray(path.read_bytes())
        raw[-1] ^= 0xFF
        path.write_bytes(bytes(raw))
    else:
        (entry / "meta.json").write_text("{not json")

    assert cache.get(key) is None
    assert not entry.exists()
    again, hit = prepared(cache, spec_for(), root)
    assert not hit
    assert_same(original, again)
    assert prepared(cache, spec_for(), root)[1]


def test_a_hit_on_untouched_files_reads_no_array_to_hash_it(cache: PreparedDataCache, root: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from adamant.preparation import cache as cache_module

    prepared(cache, spec_for(), root)
    (key, _, _), = cache.entries()
    hashed: list[Path] = []
    real = cache_module.sha256_of
    monkeypatch.setattr(cache_module, "sha256_of", lambda path: hashed.append(Path(path)) or real(path))
    assert cache.get(key) is not None
    assert [path for path in hashed if path.suffix == ".npy"] == []
    path = cache.root / key / "y_val.npy"
    path.write_bytes(path.read_bytes())  # the same bytes, written again: checked, and still right
    assert cache.get(key) is not None
    assert [path.name for path in hashed] == ["y_val.npy"]


def test_arrays_read_back_are_copy_on_write(cache: PreparedDataCache, root: Path) -> None:
    prepared(cache, spec_for(), root)
    data, _ = prepared(cache, spec_for(), root)
    original = float(data.numbers_train[0, 0])
    data.numbers_train[0, 0] = 1e6  # a caller that writes changes its own copy only

    again, hit = prepared(cache, spec_for(), root)
    assert hit and float(again.numbers_train[0, 0]) == original


def test_two_writers_of_one_key_both_succeed_and_leave_one_entry(cache: PreparedDataCache, root: Path) -> None:
    spec = spec_for()
    key = cache.key_for(spec, file_roots=[root])
    data = prepare_training_data(spec, load_dataset(spec.dataset, file_roots=[root]))
    assert cache.put(key, data) is None
    assert cache.put(key, data) is None
    assert [k for k, _, _ in cache.entries()] == [key]
    assert not [p for p in cache.root.iterdir() if p.name.startswith(".tmp")]


PREPARE_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from adamant.datasets import load_dataset
    from adamant.preparation import PreparedDataCache, prepare_training_data
    from adamant.spec import JobSpec

    root, cache_dir, spec_json = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    spec = JobSpec.model_validate_json(spec_json)
    cache = PreparedDataCache(cache_dir, 1 << 30)
    key = cache.key_for(spec, file_roots=[root])
    with cache.preparing(key):
        hit = cache.get(key)
        if hit is None:
            time.sleep(0.5)  # both processes are surely waiting or preparing by now
            data = prepare_training_data(spec, load_dataset(spec.dataset, file_roots=[root]))
            cache.put(key, data)
    print("hit" if hit else "prepared", flush=True)
    """
)


def test_two_processes_preparing_one_key_at_once_prepare_it_once(cache: PreparedDataCache, root: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    argv = [sys.executable, "-c", PREPARE_SCRIPT, str(root), str(cache.root), spec_for().model_dump_json()]
    processes = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = sorted(p.communicate(timeout=120)[0].strip() for p in processes)

    assert [p.returncode for p in processes] == [0, 0]
    assert outputs == ["hit", "prepared"]
    assert len(cache.entries()) == 1
    data, hit = prepared(cache, spec_for(), root)
    assert hit
    assert_same(data, prepare_training_data(spec_for(), load_dataset(spec_for().dataset, file_roots=[root])))


def test_eviction_keeps_the_total_under_the_cap_dropping_the_least_recently_used(root: Path, tmp_path: Path) -> None:
    probe = PreparedDataCache(tmp_path / "probe", GIB)
    prepared(probe, spec_for(), root)
    (_, entry_bytes, _), = probe.entries()
    cache = PreparedDataCache(tmp_path / "cache", int(entry_bytes * 2.5))
    specs = [spec_for(**{"dataset.validation.seed": seed}) for seed in range(4)]

    prepared(cache, specs[0], root)
    prepared(cache, specs[1], root)
    assert prepared(cache, specs[0], root)[1]  # used again: now the most recent
    prepared(cache, specs[2], root)

    assert sum(size for _, size, _ in cache.entries()) <= cache.max_bytes
    assert prepared(cache, specs[0], root)[1] and prepared(cache, specs[2], root)[1]
    assert not prepared(cache, specs[1], root)[1]  # the least recently used went first
    assert sum(size for _, size, _ in cache.entries()) <= cache.max_bytes


def test_uses_within_one_clock_tick_still_order_the_entries(root: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """File times can be as coarse as a kernel tick: two uses in one tick must not tie (a tie let
    eviction drop the entry used last; seen once under load in CI)."""
    import adamant.preparation.cache as cache_module

    monkeypatch.setattr(cache_module.time, "time_ns", lambda: 1_700_000_000_000_000_000)  # a clock that stands still
    cache = PreparedDataCache(tmp_path / "cache", GIB)
    specs = [spec_for(**{"dataset.validation.seed": seed}) for seed in range(3)]
    keys = [cache.key_for(spec, file_roots=[root]) for spec in specs]
    for spec in specs:
        prepared(cache, spec, root)
    assert [key for key, _, _ in cache.entries()] == keys  # in the order they were stored
    assert prepared(cache, specs[0], root)[1]
    assert [key for key, _, _ in cache.entries()] == [keys[1], keys[2], keys[0]]  # used last: last


def test_an_entry_larger_than_the_cap_is_not_stored(root: Path, tmp_path: Path) -> None:
    cache = PreparedDataCache(tmp_path / "cache", 1000)
    spec = spec_for()
    data = prepare_training_data(spec, load_dataset(spec.dataset, file_roots=[root]))
    assert "ADAMANT_PREPARED_CACHE_BYTES" in (cache.put(cache.key_for(spec, file_roots=[root]), data) or "")
    assert cache.entries() == []


def test_ids_of_mixed_types_are_not_cacheable(cache: PreparedDataCache, root: Path) -> None:
    spec = spec_for()
    data = prepare_training_data(spec, load_dataset(spec.dataset, file_roots=[root]))
    data.ids_val = np.array(["a", 1.5, None] * (len(data.ids_val) // 3), dtype=object)
    with pytest.raises(NotCacheable):
        cache.put("k" * 64, data)
    assert cache.entries() == []


def test_recommendation_arrays_round_trip(cache: PreparedDataCache, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pd.DataFrame({"user": rng.integers(1, 40, 800), "item": rng.integers(1, 60, 800), "rating": rng.integers(1, 6, 800)}).to_csv(
        tmp_path / "ratings.csv", index=False
    )
    spec = JobSpec.model_validate({
        "task": "recommendation",
        "dataset": {"ref": "file:ratings.csv", "target": "rating", "user_column": "user", "item_column": "item"},
        "model": {"type": "matrix_factorization"},
    })
    first, _ = prepared(cache, spec, tmp_path)
    second, hit = prepared(cache, spec, tmp_path)
    assert hit and second.user_idx_val is not None
    assert_same(first, second)
