"""Training on a streamed table: every row once an epoch in shuffled blocks, the right rows in each batch, resumable,
and as good a model as the in-memory path gives."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from adamant.monitoring.reference import REFERENCE_FILE
from adamant.preparation.encoding import EncodedRows
from adamant.preparation.mapped import NpyWriter, open_mapped
from adamant.preparation.streamed import prepare_streamed
from adamant.spec import JobSpec
from support.data import synthetic_customers
from worker.engine import blocks
from worker.engine.blocks import BlockOrder, StreamedSplit
from worker.engine.reporting import RecordingReporter
from worker.engine.run import run_training
from worker.engine.setup import build_setup
from worker.engine.trainer import train


def test_an_epoch_visits_every_row_once_in_shuffled_windows_of_whole_blocks() -> None:
    n, block, window = 10_007, 100, 4
    order = BlockOrder(n, seed=3, epoch=0, block_rows=block, window_blocks=window)
    rows = torch.cat([order[a : a + 333] for a in range(0, n, 333)]).numpy()  # batches straddle windows

    assert np.array_equal(np.sort(rows), np.arange(n))
    starts = order.window_starts
    for w in range(len(order.windows)):  # a window's rows are its blocks' rows, shuffled
        part = rows[starts[w] : starts[w + 1]]
        assert set(np.unique(part // block)) == set(order.windows[w].tolist())
        assert not np.all(np.diff(part) > 0)
    assert np.array_equal(rows, BlockOrder(n, 3, 0, block, window)[0:n].numpy())  # a pure function of (seed, epoch)
    assert not np.array_equal(rows, BlockOrder(n, 3, 1, block, window)[0:n].numpy())
    assert not np.array_equal(order.blocks, np.sort(order.blocks))


def mapped_split(tmp_path: Path, n: int) -> tuple[StreamedSplit, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    numbers = rng.normal(size=(n, 2)).astype(np.float32)
    codes = rng.integers(0, 3, size=(n, 1)).astype(np.int16)
    y = rng.random(n).astype(np.float32)
    arrays = {"numbers": numbers, "codes": codes, "embedded": np.zeros((n, 0), np.int32), "y": y}
    for name, array in arrays.items():
        writer = NpyWriter(tmp_path / f"{name}.npy", array.dtype, array.shape)
        writer.append(array)
        writer.close()
    mapped = {name: open_mapped(tmp_path / f"{name}.npy") for name in arrays}

    class Layout:  # numbers then one-hot of the code: enough to see which rows came back
        def expand(self, numbers: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
            return torch.cat([numbers, torch.nn.functional.one_hot(codes[:, 0].long(), 3).float()], dim=1)

    split = StreamedSplit(EncodedRows(mapped["numbers"], mapped["codes"], mapped["embedded"]), mapped["y"], Layout(),
                          torch.device("cpu"), torch.float32)
    return split, numbers, y


def test_a_batch_holds_the_rows_it_names_and_at_most_two_windows_are_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocks, "BLOCK_ROWS", 50)
    monkeypatch.setattr(blocks, "WINDOW_BLOCKS", 3)
    split, numbers, y = mapped_split(tmp_path, 1_001)
    order = split.epoch_order(seed=0, epoch=2)
    assert len(order.windows) == 7  # 21 blocks of 50 rows, 3 a window
    for start in range(0, 1_001, 64):
        idx = order[start : start + 64]
        (x,), targets = split.batch(idx)
        assert torch.equal(x[:, :2], torch.from_numpy(numbers[idx.numpy()]))
        assert torch.equal(targets, torch.from_numpy(y[idx.numpy()]))
        assert len(split._windows) <= 2
    assert torch.equal(split.map_batches(lambda x: x[:, :2]), torch.from_numpy(numbers))
    assert torch.equal(split.targets(), torch.from_numpy(y))


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40,000 customers with a known signal and a 300-level `store` column that carries some."""
    path = tmp_path_factory.mktemp("blocks") / "customers.parquet"
    frame = synthetic_customers(40_000, seed=5)
    rng = np.random.default_rng(5)
    store = rng.integers(0, 300, len(frame))
    lifted = rng.random(len(frame)) < np.where(store % 3 == 0, 0.25, 0.0)
    frame["store"] = [f"S{s:03d}" for s in store]
    frame.loc[lifted, "converted"] = "yes"
    frame.to_parquet(path, row_group_size=8_000)
    return path


def job(path: Path, epochs: int = 2) -> JobSpec:
    return JobSpec.model_validate({
        "task": "binary_classification",
        "dataset": {"ref": f"file:{path.name}", "target": "converted", "id_column": "customer_id"},
        "model": {"type": "mlp", "hidden": [16], "dropout": 0.1},
        "training": {"epochs": epochs, "batch_size": 256, "seed": 1, "log_every_steps": 20},
        "checkpointing": {"every_epochs": 1, "keep_last": 5},
        "resources": {"device": "cpu"},
    })


def test_a_streamed_job_trains_as_well_as_the_in_memory_one_and_keeps_a_drift_reference(table: Path, tmp_path: Path) -> None:
    spec = job(table)
    streamed, whole = RecordingReporter(), RecordingReporter()
    run_training(spec, tmp_path / "streamed", streamed, file_roots=[table.parent], prepared_cache=None, stream_from_rows=10_000)
    run_training(spec, tmp_path / "whole", whole, file_roots=[table.parent], prepared_cache=None, stream_from_rows=10**9)

    assert any(m.startswith("prepared data by streaming 40,000 rows") for m in streamed.messages), streamed.messages
    assert not any("streaming" in m for m in whole.messages)
    streamed_auc, whole_auc = streamed.series("val_auc")[-1][1], whole.series("val_auc")[-1][1]
    assert streamed_auc > 0.70 and abs(streamed_auc - whole_auc) < 0.02, (streamed_auc, whole_auc)
    profile = json.loads((tmp_path / "streamed" / REFERENCE_FILE).read_text())
    assert profile["scores_from"]["validation_rows"] > 7_000 and "store" in profile["features"]


def test_a_resumed_streamed_run_equals_an_uninterrupted_one_bit_for_bit(
    table: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blocks, "BLOCK_ROWS", 1_000)  # several windows an epoch
    monkeypatch.setattr(blocks, "WINDOW_BLOCKS", 4)
    spec = job(table)
    folder = tmp_path / "prepared"
    folder.mkdir()
    data, _ = prepare_streamed(spec, table, folder)

    def run(run_dir: Path, reporter: RecordingReporter):  # type: ignore[no-untyped-def]
        setup = build_setup(spec, data)
        return setup, train(setup, run_dir, reporter)

    whole, _ = run(tmp_path / "whole", RecordingReporter())
    interrupted = RecordingReporter()
    interrupted.stop_after_steps = 150  # mid-epoch, mid-window: 125 steps an epoch
    run(tmp_path / "resumed", interrupted)
    resumed, result = run(tmp_path / "resumed", RecordingReporter())
    assert len(resumed.objective.x_train.order.windows) == 8  # ~32,000 training rows: 32 blocks, 4 a window
    assert result.resumed_from_step == 150 and result.stop_reason == "completed"
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
