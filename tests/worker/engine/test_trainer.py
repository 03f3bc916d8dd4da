"""The training loop's promises: resumable bit for bit, stops when told, reports what it did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from adamant.exceptions import TrainingError
from adamant.preparation import prepare_training_data
from adamant.spec import JobSpec
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


def test_step_decay_runs_every_step_at_the_lr_torch_step_lr_gives_it(customers: pd.DataFrame, tmp_path: Path) -> None:
    spec = propensity_spec(**{
        "schedule.type": "step", "schedule.gamma": 0.5, "schedule.step_epochs": 1, "training.log_every_steps": 1,
    })
    _, _, log = run(spec, customers, tmp_path)

    param = torch.zeros(1, requires_grad=True)
    reference = torch.optim.SGD([param], lr=1e-3)
    step_lr = torch.optim.lr_scheduler.StepLR(reference, step_size=1, gamma=0.5)
    expected = []
    for step in range(1, 101):  # 25 batches an epoch; StepLR steps once per epoch
        expected.append(reference.param_groups[0]["lr"])
        reference.step()
        if step % 25 == 0:
            step_lr.step()
    # The "lr" point logged at step s is the lr step s ran at; step 25 is epoch 0's last batch.
    steps, lrs = zip(*log.series("lr"))
    assert list(steps) == list(range(1, 101))
    assert list(lrs) == pytest.approx(expected, rel=1e-12)


class KilledAfterCheckpoint(RecordingReporter):
    """Dies like a killed worker right after the checkpoint at `step` is on disk."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step

    def checkpoint(self, info) -> None:  # type: ignore[no-untyped-def]
        super().checkpoint(info)
        if info.step == self.step:
            raise KeyboardInterrupt(f"killed after the checkpoint at step {info.step}")


def test_train_loss_after_resuming_from_an_end_of_epoch_checkpoint_matches_the_uninterrupted_run(
    customers: pd.DataFrame, tmp_path: Path
) -> None:
    spec = propensity_spec()  # 25 steps per epoch, a checkpoint after every epoch
    _, _, whole = run(spec, customers, tmp_path / "whole")

    killed = KilledAfterCheckpoint(step=50)
    with pytest.raises(KeyboardInterrupt):
        run(spec, customers, tmp_path / "resumed", killed)
    _, second, resumed = run(spec, customers, tmp_path / "resumed")

    assert second.resumed_from_step == 50
    for name in ("train_loss", "loss"):
        steps, values = zip(*(killed.series(name) + resumed.series(name)))
        whole_steps, whole_values = zip(*whole.series(name))
        assert steps == whole_steps, name
        assert list(values) == pytest.approx(whole_values, rel=0, abs=1e-6), name
    assert [s for s, _ in whole.series("train_loss")] == [25, 50, 75, 100]


def test_batch_norm_trains_when_the_last_batch_would_hold_one_row(customers: pd.DataFrame, tmp_path: Path) -> None:
    spec = propensity_spec(**{"model.batch_norm": True, "training.batch_size": 41, "training.epochs": 2})
    setup = build_setup(spec, prepare_training_data(spec, customers))
    n_train = setup.objective.n_train
    assert n_train % 41 == 1 and n_train > 41  # e.g. 1600 = 39 × 41 + 1
    batch_rows: list[int] = []
    setup.model.register_forward_pre_hook(lambda m, args: batch_rows.append(args[0].shape[0]) if m.training else None)

    result = train(setup, tmp_path, RecordingReporter())

    assert result.stop_reason == "completed"
    per_epoch = [41] * ((n_train - 1) // 41 - 1) + [42]  # the lone row joins the last full batch
    assert batch_rows == per_epoch * 2 and sum(per_epoch) == n_train
    assert result.step == 2 * len(per_epoch)


def interactions(users: int = 60, items: int = 40, rows: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Ratings 1..5 from a rank-2 taste model plus noise: a recommender has something to learn."""
    rng = np.random.default_rng(seed)
    taste, traits = rng.normal(size=(users, 2)), rng.normal(size=(items, 2))
    user, item = rng.integers(0, users, rows), rng.integers(0, items, rows)
    rating = np.clip(np.round(3 + (taste[user] * traits[item]).sum(1) + rng.normal(0, 0.3, rows)), 1, 5)
    return pd.DataFrame({"user": user, "item": item, "rating": rating})


def test_recommendation_with_sparse_embeddings_clips_its_gradients(tmp_path: Path) -> None:
    frame = interactions()
    spec = JobSpec.model_validate({
        "task": "recommendation",
        "dataset": {"ref": "file:ratings.csv", "target": "rating", "user_column": "user", "item_column": "item"},
        "model": {"type": "matrix_factorization", "embedding_dim": 8, "sparse": True, "regularization": 0.01},
        "optimizer": {"lr": 0.02},
        "training": {"epochs": 3, "batch_size": 128, "grad_clip_norm": 0.5, "log_every_steps": 1},
    })
    setup = build_setup(spec, prepare_training_data(spec, frame))
    applied = gradient_norms_seen_by_the_optimizer(setup)
    log = RecordingReporter()

    result = train(setup, tmp_path, log)

    assert setup.model.user_embedding.weight.grad.is_sparse  # the lazy row update, not a dense fallback
    assert result.stop_reason == "completed" and np.isfinite(result.best_metrics["val_rmse"])
    reported = [v for _, v in log.series("grad_norm")]
    assert max(reported) > 0.5 and max(applied) <= 0.5 * (1 + 1e-5)
    assert applied == pytest.approx([clipped(n, 0.5) for n in reported], rel=1e-5)


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


def gradient_norms_seen_by_the_optimizer(setup) -> list[float]:  # type: ignore[no-untyped-def]
    """Records, before every optimizer step, the L2 norm of all gradients it is about to apply."""
    seen: list[float] = []

    def record(optimizer, args, kwargs) -> None:  # type: ignore[no-untyped-def]
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        values = [g.coalesce().values() if g.is_sparse else g for g in grads]
        seen.append(sum(float(v.double().pow(2).sum()) for v in values) ** 0.5)

    setup.optimizer.register_step_pre_hook(record)
    return seen


def clipped(norm: float, max_norm: float) -> float:
    """The norm after clipping, with torch's coefficient max_norm / (norm + 1e-6) capped at 1."""
    return norm * min(1.0, max_norm / (norm + 1e-6))


def test_gradient_clipping_caps_the_norm_the_optimizer_applies(customers: pd.DataFrame, tmp_path: Path) -> None:
    spec = propensity_spec(**{"training.grad_clip_norm": 0.01, "training.log_every_steps": 1})
    setup = build_setup(spec, prepare_training_data(spec, customers))
    applied = gradient_norms_seen_by_the_optimizer(setup)
    log = RecordingReporter()
    train(setup, tmp_path, log)

    assert len(applied) == 100
    assert max(applied) <= 0.01 * (1 + 1e-5)  # every step's gradients were scaled down to the cap
    reported = [v for _, v in log.series("grad_norm")]
    assert min(reported) > 0.01  # the metric is the norm before clipping: all of them were clipped
    assert applied == pytest.approx([clipped(n, 0.01) for n in reported], rel=1e-5)


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
