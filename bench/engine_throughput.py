"""Engine throughput vs what a user writes by hand, on the bank-marketing MLP, in one run.

Three ways to do the same work — MLP 64-32 on bank-marketing (duration dropped), batch 256,
5 epochs, one evaluation (validation AUC) at the end:

1. dataloader: TensorDataset + DataLoader(shuffle=True) and torch.optim.Adam() with its
   defaults (on CPU that is the for-loop implementation) — the tutorial loop.
2. slicing+fused: tensors in memory, a randperm per epoch, index the batch, torch.optim.Adam(fused=True).
3. engine: worker.engine.trainer.train with our Adam core, metrics every 10 steps, the final
   evaluation and one checkpoint written (the engine's real overhead included).

Each variant runs `--repeats` times in alternation (so drift hits all alike) and reports the
median samples/s = epochs * training rows / wall seconds. Prints the table; `--json` saves it.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from adamant.datasets import get_builtin
from adamant.preparation import PreparedData, prepare_training_data
from adamant.spec import JobSpec
from worker.engine.metrics import auc
from worker.engine.reporting import NullReporter
from worker.engine.setup import build_setup
from worker.engine.trainer import train

EPOCHS, BATCH, HIDDEN = 5, 256, [64, 32]
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # all three variants use the same one


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def spec(epochs: int) -> JobSpec:
    return JobSpec.model_validate(
        {
            "task": "binary_classification",
            "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
            "model": {"type": "mlp", "hidden": HIDDEN},
            "training": {"epochs": epochs, "batch_size": BATCH, "seed": 0, "eval_every_epochs": epochs},
            "checkpointing": {"every_epochs": epochs, "keep_last": 1},
            "resources": {"device": DEVICE.type},
        }
    )


def hand_model(n_features: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(n_features, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1)).to(DEVICE)


def final_auc(model: nn.Module, data: PreparedData) -> float:
    with torch.no_grad():
        return auc(data.y_val, model(torch.as_tensor(data.x_val, device=DEVICE)).squeeze(1).cpu().numpy())


def dataloader_loop(data: PreparedData, epochs: int) -> tuple[float, float]:
    x, y = torch.as_tensor(data.x_train, device=DEVICE), torch.as_tensor(data.y_train, device=DEVICE)
    model = hand_model(x.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)
    criterion = nn.BCEWithLogitsLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb).squeeze(1), yb)
            loss.backward()
            optimizer.step()
    score = final_auc(model, data)
    sync()
    return time.perf_counter() - start, score


def slicing_fused_loop(data: PreparedData, epochs: int) -> tuple[float, float]:
    x, y = torch.as_tensor(data.x_train, device=DEVICE), torch.as_tensor(data.y_train, device=DEVICE)
    model = hand_model(x.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    criterion = nn.BCEWithLogitsLoss()
    n = x.shape[0]
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n, device=DEVICE)
        for i in range(0, n, BATCH):
            idx = perm[i : i + BATCH]
            optimizer.zero_grad()
            loss = criterion(model(x[idx]).squeeze(1), y[idx])
            loss.backward()
            optimizer.step()
    score = final_auc(model, data)
    sync()
    return time.perf_counter() - start, score


def engine_loop(data: PreparedData, epochs: int) -> tuple[float, float]:
    job = spec(epochs)
    setup = build_setup(job, data)
    run_dir = Path(tempfile.mkdtemp(prefix="adamant-bench-"))
    try:
        start = time.perf_counter()
        result = train(setup, run_dir, NullReporter(), resume=False)
        return time.perf_counter() - start, result.last_metrics["val_auc"]
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


VARIANTS = {"dataloader + torch Adam (default)": dataloader_loop, "slicing + torch Adam(fused=True)": slicing_fused_loop, "adamant engine": engine_loop}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def measure(repeats: int, epochs: int) -> dict:
    frame = get_builtin("bank-marketing").load()
    data = prepare_training_data(spec(epochs), frame)
    samples = epochs * len(data.train_rows)
    for fn in VARIANTS.values():  # warm-up: allocator, kernels, first-call overheads
        fn(data, 1)
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    aucs: dict[str, float] = {}
    for _ in range(repeats):
        for name, fn in VARIANTS.items():
            seconds, score = fn(data, epochs)
            times[name].append(seconds)
            aucs[name] = score
    rows = []
    for name in VARIANTS:
        median = statistics.median(times[name])
        rows.append({"variant": name, "median_s": median, "samples_per_s": samples / median, "val_auc": aucs[name]})
    by_name = {row["variant"]: row for row in rows}
    engine = by_name["adamant engine"]["samples_per_s"]
    for row in rows:
        row["engine_ratio"] = engine / row["samples_per_s"]
    return {
        "machine": {
            "cpu": cpu_name(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "device": torch.cuda.get_device_name() if DEVICE.type == "cuda" else "cpu",
        },
        "workload": {"rows": len(data.train_rows), "features": data.n_features, "epochs": epochs, "batch": BATCH, "hidden": HIDDEN, "repeats": repeats},
        "rows": rows,
    }


def print_table(result: dict) -> None:
    m, w = result["machine"], result["workload"]
    print(f"engine throughput — {m['cpu']}, {m['threads']} torch threads, torch {m['torch']}, device {m['device']}")
    print(
        f"bank-marketing MLP {w['hidden']}, {w['rows']} rows x {w['features']} features, batch {w['batch']}, "
        f"{w['epochs']} epochs + final AUC; median of {w['repeats']} alternating runs"
    )
    print(f"{'variant':<36} {'median s':>9} {'samples/s':>11} {'val AUC':>8} {'engine is':>10}")
    for row in result["rows"]:
        print(
            f"{row['variant']:<36} {row['median_s']:>9.3f} {row['samples_per_s']:>11,.0f} "
            f"{row['val_auc']:>8.4f} {row['engine_ratio']:>9.2f}x"
        )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = measure(args.repeats, args.epochs)
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
