"""TensorBoard files of a finished job, read back with TensorBoard's own event reader."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from support.stack import Stack, all_metrics, wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_tensorboard_files_hold_the_same_loss_values_as_the_api(stack: Stack, tenant_key: str, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spec = {
        "task": "binary_classification",
        "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
        "model": {"type": "mlp", "hidden": [16]},
        "training": {"epochs": 2, "batch_size": 512, "log_every_steps": 5},
    }
    with stack.client(tenant_key) as client:
        job = client.post("/v1/jobs", json=spec).json()
        wait_for_status(client, job["id"], {"succeeded"})
        api = {p["step"]: p["value"] for p in all_metrics(client, job["id"]) if p["name"] == "loss"}
        auc = [p["value"] for p in all_metrics(client, job["id"]) if p["name"] == "val_auc"]
        archive = client.get(f"/v1/jobs/{job['id']}/tensorboard")
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(archive.content)) as tar:
        tar.extractall(tmp_path, filter="data")
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    board = {e.step: e.value for e in events.Scalars("loss")}
    assert board.keys() == api.keys() and len(board) >= 10
    for step, value in api.items():
        assert board[step] == pytest.approx(value, rel=1e-6)
    assert [e.value for e in events.Scalars("val_auc")] == pytest.approx(auc, rel=1e-6)
    assert {"lr", "grad_norm", "update_ratio"} <= set(events.Tags()["scalars"])
