"""The training loop's promises: resumable bit for bit, stops when told, reports what it did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from adamant.exceptions import TrainingError
from adamant.spec import JobSpec
from adamant.preparation import prepare_training_data
from worker.engine import checkpoints as ckpt
from worker.engine.metrics import auc
from worker.engine.reporting import RecordingReporter
from worker.engine.setup import build_setup
from worker.engine.trainer import train
from worker.predict import load_trained_model, predict_frame


def propensity_spec(**overrides: Any) -> JobSpec:
    spec: dict[str, Any] = {
        "task": "binary_classification",
        "dataset": {"ref": "file:customers.csv", "target": "converted", "id_column": "customer_id"},
        "model": {"type": "mlp", "hidden": [16, 8], "dropout": 0.2},
        "training": {"epochs": 4, "batch_size": 64, "seed": 3, "log_every_steps": 5},
        "checkpointing": {"every_epochs": 1, "keep_last": 10},
    }
    for path, value in overrides.items():
        *parents, leaf = path.split(".")
        node = spec
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return JobSpec.model_validate(spec)


def run(spec: JobSpec, frame: pd.DataFrame, run_dir: Path, reporter: RecordingReporter | None = None, **kw: Any):
    setup = build_setup(spec, prepare_training_data(spec, frame), frame=frame)
    reporter = reporter or RecordingReporter()
    return setup, train(setup, run_dir, reporter, **kw), reporter


def weights(setup) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    return {k: v.clone() for k, v in setup.model.state_dict().items()}


def test_resumed_run_equals_an_uninterrupted_one_bit_for_bit(customers: pd.DataFrame, tmp_path: Path) -> None:
    spec = propensity_spec(**{"optimizer.amsgrad": True, "optimizer.weight_decay": 0.01, "schedule.type": "cosine"})
    whole, _, whole_log = run(spec, customers, tmp_path / "whole")

    interrupted = RecordingReporter()
    interrupted.stop_after_steps = 37  # mid-epoch: 25 steps per epoch
    _, first, _ = run(spec, customers, tmp_path / "resumed", interrupted)
    resumed, second, resumed_log = run(spec, customers, tmp_path / "resumed")

    assert first.stop_reason == "cancelled" and first.step == 37
    assert second.resumed_from_step == 37 and second.stop_reason == "completed"
    for name, tensor in weights(whole).items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    assert whole_log.series("val_auc")[-1] == resumed_log.series("val_auc")[-1]
    assert [v for s, v in whole_log.series("loss") if s > 37] == [v for s, v in resumed_log.series("loss")]


def test_metrics_cover_loss_quality_lr_and_adam_internals(customers: pd.DataFrame, tmp_path: Path) -> None:
    _, result, log = run(propensity_spec(), customers, tmp_path)
    names = {p.name for p in log.points}

    assert {"loss", "val_loss", "train_loss", "val_auc", "val_log_loss", "val_accuracy", "val_lift_10"} <= names
    assert {"lr", "grad_norm", "samples_per_s", "update_ratio", "update_ratio/decay", "update_ratio/no_decay"} <= names
    steps = [s for s, _ in log.series("loss")]
    assert steps == sorted(set(steps)) and steps[0] == 5
    assert result.best_metrics["val_auc"] > 0.65
    assert all(0 < v < 1 for _, v in log.series("update_ratio"))
    assert log.progresses[-1].step == result.step == 100


def test_lr_points_follow_the_schedule_with_warmup(customers: pd.DataFrame, tmp_path: Path) -> None:
    spec = propensity_spec(**{"schedule.type": "step", "schedule.gamma": 0.5, "schedule.step_epochs": 2, "schedule.warmup_epochs": 1})
    _, _, log = run(spec, customers, tmp_path)
    lr = dict(log.series("lr"))
    assert lr[10] == pytest.approx(1e-3 * 10 / 25)  # warm-up: the 10th step of 25 per epoch
    assert lr[40] == pytest.approx(1e-3)
    assert lr[55] == pytest.approx(5e-4)


def test_early_stopping_stops_when_the_monitor_stalls(customers: pd.DataFrame, tmp_path: Path) -> None:
    spec = propensity_spec(**{
        "training.epochs": 30, "training.early_stopping": {"patience": 2},
        "optimizer.lr": 1e-7,  # too small to improve anything
    })
    _, result, log = run(spec, customers, tmp_path)
    assert result.stop_reason == "early_stopped"
    assert result.step < 30 * 25
    assert any("early stopping" in m for m in log.messages)


def test_time_limit_stops_and_keeps_a_checkpoint(customers: pd.DataFrame, tmp_path: Path) -> None:
    spec = propensity_spec(**{"training.epochs": 10_000, "training.time_limit_s": 1.0})
    _, result, _ = run(spec, customers, tmp_path)
    assert result.stop_reason == "time_limit"
    assert ckpt.latest_valid_checkpoint(tmp_path) is not None


def test_a_nan_loss_fails_with_advice_instead_of_training_on(customers: pd.DataFrame, tmp_path: Path) -> None:
    spec = propensity_spec()
    setup = build_setup(spec, prepare_training_data(spec, customers))
    with torch.no_grad():
        next(setup.model.parameters())[0, 0] = float("nan")  # what a diverged step leaves behind
    with pytest.raises(TrainingError, match="lower optimizer.lr"):
        train(setup, tmp_path, RecordingReporter())


def test_gradient_clipping_bounds_the_reported_norm_before_clipping(customers: pd.DataFrame, tmp_path: Path) -> None:
    _, _, log = run(propensity_spec(**{"training.grad_clip_norm": 0.01}), customers, tmp_path)
    unclipped = [v for _, v in log.series("grad_norm")]
    assert max(unclipped) > 0.01  # the metric reports the norm before clipping ...
    # ... and clipping held each update small: Adam's step is ~lr per weight whatever the scale.
    assert all(v < 0.05 for _, v in log.series("update_ratio"))


def test_checkpoints_keep_the_last_n_and_the_best(customers: pd.DataFrame, tmp_path: Path) -> None:
    spec = propensity_spec(**{"checkpointing.keep_last": 2, "training.epochs": 5})
    _, result, log = run(spec, customers, tmp_path)
    kept = ckpt.list_checkpoints(tmp_path)
    assert [p.name for p in kept] == ["step-00000100", "step-00000125"]
    best = ckpt.verify_checkpoint(tmp_path / "best")
    assert best["metrics"]["val_auc"] == max(v for _, v in log.series("val_auc"))
    assert result.best_checkpoint == tmp_path / "best"
    assert len(log.checkpoints) >= 5 and all(c.sha256 for c in log.checkpoints)


def test_predictions_on_validation_rows_reproduce_the_reported_auc(customers: pd.DataFrame, tmp_path: Path) -> None:
    spec = propensity_spec()
    setup, result, _ = run(spec, customers, tmp_path)
    validation = customers.iloc[setup.data.val_rows]

    scored = predict_frame(load_trained_model(tmp_path / "best"), validation.drop(columns=["converted"]))

    assert list(scored["customer_id"]) == list(validation["customer_id"])
    truth = (validation["converted"] == "yes").to_numpy()
    assert auc(truth, scored["score"].to_numpy()) == pytest.approx(result.best_metrics["val_auc"], abs=1e-6)
    assert set(scored["label"]) <= {"yes", "no"}


def test_warm_start_from_another_checkpoint_begins_where_it_ended(customers: pd.DataFrame, tmp_path: Path) -> None:
    spec = propensity_spec()
    first, _, _ = run(spec, customers, tmp_path / "a")
    data = prepare_training_data(spec, customers)
    warm = build_setup(spec, data, init_from=tmp_path / "a" / "best")
    best = ckpt.load_checkpoint(tmp_path / "a" / "best").model_state
    for name, tensor in warm.model.state_dict().items():
        assert torch.equal(tensor.cpu(), best[name])  # the model may live on CUDA; the checkpoint is CPU


def test_segmentation_assigns_segments_and_profiles_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[1, 10, 20.0], [30, 2, 200.0], [300, 1, 15.0]])
    frame = pd.DataFrame(
        np.vstack([c * rng.lognormal(0, 0.1, (300, 3)) for c in centres]), columns=["recency", "frequency", "monetary"]
    ).assign(customer_id=np.arange(900))
    spec = JobSpec.model_validate({
        "task": "segmentation",
        "dataset": {"ref": "file:rfm.csv", "id_column": "customer_id"},
        "model": {"type": "autoencoder", "hidden": [8], "latent_dim": 2, "segments": 3},
        "optimizer": {"lr": 0.01},
        "training": {"epochs": 15, "batch_size": 64},
    })
    _, result, _ = run(spec, frame, tmp_path)

    segments = predict_frame(load_trained_model(tmp_path / "best"), frame)["segment"].to_numpy()
    truth = np.repeat([0, 1, 2], 300)
    # Each true cluster lands in one segment, and the three are different segments.
    assert len({np.bincount(segments[truth == c]).argmax() for c in range(3)}) == 3
    assert result.summary["metrics"]["val_silhouette"] > 0.5
    sizes = [s["size"] for s in result.summary["segments"]]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == len(frame) * 0.8
    assert {"recency", "frequency", "monetary"} <= set(result.summary["segments"][0]["profile"])


def test_recommendation_reports_rmse_and_ranking_on_movielens(movielens_path: Path, tmp_path: Path) -> None:
    from adamant.datasets import read_table

    frame = read_table(movielens_path).set_axis(["user", "item", "rating", "ts"], axis=1)
    spec = JobSpec.model_validate({
        "task": "recommendation",
        "dataset": {"ref": "file:u.data", "target": "rating", "user_column": "user", "item_column": "item", "drop": ["ts"]},
        "model": {"type": "matrix_factorization", "embedding_dim": 16, "regularization": 0.05},
        "optimizer": {"lr": 0.005},
        "training": {"epochs": 3, "batch_size": 2048},
    })
    _, result, _ = run(spec, frame, tmp_path)
    assert result.best_metrics["val_rmse"] < 1.0
    assert 0.1 < result.best_metrics["val_hr_10"] <= 1.0
    assert 0.0 < result.best_metrics["val_ndcg_10"] < result.best_metrics["val_hr_10"]

    top = predict_frame(load_trained_model(tmp_path / "best"), pd.DataFrame({"user": [1, 2, 99999]}), top_k=5)
    assert len(top) == 15 and list(top["rank"][:5]) == [1, 2, 3, 4, 5]
    assert top.groupby("user")["score"].apply(lambda s: s.is_monotonic_decreasing).all()
