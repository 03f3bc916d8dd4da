"""Implicit-feedback recommendation on MovieLens-100k: the baselines our model must beat (issue 13).

    python -m bench.implicit_feedback [--data PATH/u.data] [--json PATH]

Method. Every rating of MovieLens-100k (943 users x 1,682 items, 100,000 ratings) is an
interaction; its value is ignored. Each user's last interaction by timestamp is the test item
(leave-last-out, adamant/ranking/evaluation.py); the one before it is the validation item on
which a small grid picks each method's hyperparameters (printed); each method is then refitted
on everything but the test items and evaluated over the full catalogue (1,682 items, the user's
training items excluded): HR@10, NDCG@10, recall@10, coverage@10 and popularity bias@10, then
HR@10 and NDCG@10 against 100 sampled negatives (He et al. 2017's protocol, labelled as such).
Methods: most popular items; `implicit`'s ALS (Hu, Koren and Volinsky 2008) and BPR (Rendle
et al. 2009), CPU, 2 threads; and adamant: our engine (worker/engine/ranking.py) training
dot-product MF with biases on the sampled softmax with lazy Adam and a cosine learning rate,
its grid judged at the last epoch (with a constant rate it also chooses the number of epochs,
the best epoch's validation NDCG@10), the final fit running that many epochs and keeping the
last epoch's weights (the engine needs held-out rows to report on: it is given
the test items, which choose nothing, neither epochs nor checkpoint), scored by the same
evaluation as the others (torch's threads: 2). Wall time: the final fit alone, and the whole grid.
The data's licence forbids copying it into the project: it is read from ../shared/datasets
(or ADAMANT_SHARED_DATASETS).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from adamant.ranking.evaluation import evaluate_full, evaluate_sampled, leave_last_out, seen_matrix

sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from support.data import shared_datasets  # noqa: E402

GRIDS: dict[str, dict[str, list[Any]]] = {
    "popular": {},
    "implicit ALS": {"factors": [16, 32, 64, 128], "regularization": [0.001, 0.01, 0.1], "iterations": [15],
                     "alpha": [0.5, 1.0, 10.0]},
    "implicit BPR": {"factors": [16, 32, 64], "learning_rate": [0.005, 0.01, 0.05], "regularization": [0.001, 0.01],
                     "iterations": [100]},
    "adamant": {"embedding_dim": [64, 128], "regularization": [0.01, 0.02], "negatives": [1024], "lr": [0.01],
                "epochs": [40], "schedule": ["cosine"]},
}
QUICK_GRIDS: dict[str, dict[str, list[Any]]] = {  # --quick: one point each, for the smoke test
    "popular": {},
    "implicit ALS": {"factors": [16], "regularization": [0.01], "iterations": [5], "alpha": [1.0]},
    "implicit BPR": {"factors": [16], "learning_rate": [0.05], "regularization": [0.01], "iterations": [20]},
    "adamant": {"negatives": [64], "regularization": [0.01], "embedding_dim": [16], "lr": [0.01], "epochs": [3]},
}


def load(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, sep="\t", names=["user", "item", "rating", "time"])
    frame["user"] = frame["user"] - 1
    frame["item"] = frame["item"] - 1
    return frame


def adamant_spec(params: dict[str, Any]) -> Any:
    from adamant.spec import JobSpec

    dataset = {"ref": "file:bench", "user_column": "user", "item_column": "item", "feedback": "implicit"}
    return JobSpec.model_validate({
        "task": "recommendation",
        "dataset": dataset | {"validation": {"column": "held_out"}},
        "model": {"type": "matrix_factorization", "embedding_dim": params["embedding_dim"], "loss": params.get("loss", "softmax"),
                  "negatives": params["negatives"], "regularization": params["regularization"],
                  "negative_sampling": params.get("sampling", "uniform")},
        "optimizer": {"name": "adam", "lr": params["lr"]},
        "schedule": {"type": params.get("schedule", "constant")},
        "training": {"epochs": params["epochs"], "batch_size": 1024, "seed": 0, "log_every_steps": 1000},
        "checkpointing": {"every_epochs": params["epochs"], "keep_last": 1},
    })


def fit_adamant(train: sp.csr_matrix, params: dict[str, Any], validation: sp.csr_matrix):  # type: ignore[no-untyped-def]
    """Our engine on the interactions of `train`, `validation`'s held out and reported on: (scorer
    of the last epoch's weights, val NDCG@10 per epoch)."""
    import tempfile

    import torch

    from adamant.preparation import prepare_training_data
    from worker.engine.reporting import RecordingReporter
    from worker.engine.setup import build_setup
    from worker.engine.trainer import train as train_model

    torch.set_num_threads(2)
    parts = [(train.tocoo(), False), (validation.tocoo(), True)]
    frame = pd.concat([pd.DataFrame({"user": m.row, "item": m.col, "held_out": held}) for m, held in parts], ignore_index=True)
    spec = adamant_spec(params)
    data = prepare_training_data(spec, frame)
    setup = build_setup(spec, data, device=torch.device("cpu"))
    log = RecordingReporter()
    with tempfile.TemporaryDirectory() as run_dir:
        train_model(setup, Path(run_dir), log)
    per_epoch = [p.value for p in log.points if p.name == "val_ndcg_10"]
    model = setup.model.eval()  # the last epoch's weights, whatever the validation said
    n_users, n_items = train.shape
    users = torch.as_tensor(data.preprocessing.users.lookup(pd.Series(np.arange(n_users))))
    ours = data.preprocessing.items.lookup(pd.Series(np.arange(n_items)))  # 0: an item training never saw

    def scorer(rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            scores = model.score_candidates(users[rows], torch.as_tensor(ours)).double().numpy()
        scores[:, ours == 0] = -np.inf
        return scores

    return scorer, per_epoch


def fit(method: str, train: sp.csr_matrix, params: dict[str, Any], held_out: sp.csr_matrix):  # type: ignore[no-untyped-def]
    """A scorer: user indices -> (users, items) scores (`held_out`: what adamant reports on, see the module)."""
    if method == "adamant":
        return fit_adamant(train, params, held_out)[0]
    if method == "popular":
        popularity = np.asarray(train.sum(axis=0)).ravel().astype(np.float64)
        return lambda users: np.tile(popularity, (len(users), 1))
    from threadpoolctl import threadpool_limits

    # implicit warns when OpenBLAS may use several threads; threadpool_limits keeps it at one here
    warnings.filterwarnings("ignore", message="OpenBLAS is configured to use")
    with threadpool_limits(1, "blas"):
        if method == "implicit ALS":
            from implicit.cpu.als import AlternatingLeastSquares

            model = AlternatingLeastSquares(factors=params["factors"], regularization=params["regularization"],
                                            iterations=params["iterations"], alpha=params["alpha"], random_state=0,
                                            num_threads=2, calculate_training_loss=False)
        else:
            from implicit.cpu.bpr import BayesianPersonalizedRanking

            model = BayesianPersonalizedRanking(factors=params["factors"], learning_rate=params["learning_rate"],
                                                regularization=params["regularization"], iterations=params["iterations"],
                                                random_state=0, num_threads=2)
        model.fit(train, show_progress=False)
    users, items = np.asarray(model.user_factors), np.asarray(model.item_factors)
    return lambda rows: users[rows] @ items.T


def tune(method: str, train: sp.csr_matrix, validation: sp.csr_matrix,
         grids: dict[str, dict[str, list[Any]]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    grid = grids[method]
    tried = []
    for values in itertools.product(*grid.values()) if grid else [()]:
        params = dict(zip(grid, values, strict=True))
        if method == "adamant":  # the engine evaluates the same protocol each epoch: the best epoch is a parameter too
            per_epoch = fit_adamant(train, params, validation)[1]
            # a decaying schedule is shaped by its length: its run is taken whole, at its last epoch
            best_epoch = int(np.argmax(per_epoch)) if params.get("schedule", "constant") == "constant" else len(per_epoch) - 1
            tried.append({**params, "epochs": best_epoch + 1, "val_ndcg@10": per_epoch[best_epoch]})
            continue
        score = evaluate_full(fit(method, train, params, validation), train, validation)["ndcg@10"]
        tried.append({**params, "val_ndcg@10": score})
    best = max(tried, key=lambda row: row["val_ndcg@10"])
    return {k: v for k, v in best.items() if k != "val_ndcg@10"}, tried


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=shared_datasets() / "movielens-100k" / "u.data")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="one grid point per method (the smoke test's)")
    args = parser.parse_args(argv)
    grids = QUICK_GRIDS if args.quick else GRIDS
    frame = load(args.data)
    n_users, n_items = int(frame["user"].max()) + 1, int(frame["item"].max()) + 1
    users, items = frame["user"].to_numpy(), frame["item"].to_numpy()
    outer = leave_last_out(users, frame["time"].to_numpy())
    inner = leave_last_out(users[outer.train], frame["time"].to_numpy()[outer.train])
    fit_rows, val_rows = outer.train[inner.train], outer.train[inner.test]
    tuning = seen_matrix(users[fit_rows], items[fit_rows], n_users, n_items)
    validation = seen_matrix(users[val_rows], items[val_rows], n_users, n_items)
    train = seen_matrix(users[outer.train], items[outer.train], n_users, n_items)
    test = seen_matrix(users[outer.test], items[outer.test], n_users, n_items)
    results: dict[str, Any] = {"data": {"users": n_users, "items": n_items, "interactions": len(frame),
                                        "test_users": int(len(outer.test)), "threads": 2, "cpu_count": os.cpu_count()}}
    for method in GRIDS:
        started = time.perf_counter()
        best, tried = tune(method, tuning, validation, grids)
        tuned_s = time.perf_counter() - started
        started = time.perf_counter()
        scorer = fit(method, train, best, test)
        fit_s = time.perf_counter() - started
        report = evaluate_full(scorer, train, test)
        report |= evaluate_sampled(lambda u, i, s=scorer: s(u)[np.arange(len(u)), i] if len(u) < 5000 else
                                   np.concatenate([s(u[j:j + 4096])[np.arange(len(u[j:j + 4096])), i[j:j + 4096]]
                                                   for j in range(0, len(u), 4096)]),
                                   train, users[outer.test], items[outer.test], negatives=100, k=10, seed=0)
        results[method] = {"best": best, "grid": tried, "fit_s": fit_s, "grid_s": tuned_s, **report}
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


def print_table(results: dict[str, Any]) -> None:
    d = results["data"]
    print(f"MovieLens-100k as implicit feedback: {d['users']} users x {d['items']} items, {d['interactions']:,} interactions; "
          f"leave-last-out by timestamp, {d['test_users']} test users; {d['cpu_count']} cores")
    print(f"{'method':<14} {'HR@10':>7} {'NDCG@10':>8} {'recall@10':>9} {'cover@10':>9} {'pop bias':>8} "
          f"{'HR@10 s100':>10} {'NDCG@10 s100':>12} {'fit s':>6} {'grid s':>7}  best (tuned on each user's second-to-last)")
    for method in GRIDS:
        r = results[method]
        print(f"{method:<14} {r['hr@10']:>7.4f} {r['ndcg@10']:>8.4f} {r['recall@10']:>9.4f} {r['coverage@10']:>9.4f} "
              f"{r['popularity_bias@10']:>8.2f} {r['sampled_hr@10']:>10.4f} {r['sampled_ndcg@10']:>12.4f} "
              f"{r['fit_s']:>6.2f} {r['grid_s']:>7.1f}  {r['best'] or '-'}")
    print("full catalogue: every item ranked, the user's training items excluded; s100: against 100 sampled unseen items")


if __name__ == "__main__":
    main()
