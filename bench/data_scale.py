"""Data at scale (issue 11): adamant's data path on synthetic customer tables, next to the pyarrow/numpy floor.

    python -m bench.data_scale [--rows 100000 1000000 [10000000 [100000000]]] [--markdown FILE] [--json FILE]
                               [--memory-limit-gb G] [--device cpu|cuda|auto] [--epochs 3]
                               [--stream-from-rows N] [--stream-epochs 1] [--workdir DIR]

The tables are bank-marketing's columns resampled and jittered to N rows, plus a 1,000-level
`region` and a 20,000-level `postcode` that carries signal about y (bench/customer_tables.py
says exactly how), written as Parquet in record batches.

Method. For each size the table is generated, then every step runs in a fresh Python process
of its own, so the peak RSS it reports (resource.getrusage(RUSAGE_SELF).ru_maxrss, read in
the child at its end) is that step's alone, imports included; the parent imports nothing
heavy, so a child inherits no high-water mark from it. Steps:

1. floor read: pyarrow.parquet.read_table(file) (multi-threaded), nothing else.
2. floor encode: the same read, then every column to numpy — string columns to int32 codes
   through pyarrow's dictionary_encode, numeric ones to float32; the time is the encoding's,
   the RSS the whole process's (the Arrow table included).
3. adamant prepare: what a job does before training, through the project's own functions:
   adamant.datasets.load_dataset (a file: reference) and adamant.preparation.prepare_training_data
   for a JobSpec binary_classification, mlp hidden [64], duration dropped, customer_id the id
   column; time of load + prepare, peak RSS.
4. epoch: worker.engine.run.run_training, the function `adamant train` calls, with that spec
   for --epochs (3) at batch 1024 on --device (cpu by default): the whole job in one process
   (load, prepare, model, the epochs with their evaluation and checkpoint, reference profile).
   An epoch's time runs from its first step to its validation metrics (its validation pass
   included); samples/s = training rows / the fastest epoch's seconds, and "epoch s" is that
   epoch: on a shared 2-core machine one busy neighbour can stall torch's two OpenMP threads
   and make a single epoch 10x slower (seen while writing this), so the best of three is the
   stable number. The step's peak RSS is the job's.
5. collapse (in-memory sizes up to 1M rows): the same job with dataset.high_cardinality "collapse"
   (region and postcode one-hot over their 50 most frequent levels plus __other__), for its
   val AUC next to the embedding's: what learning the postcode is worth.

Streamed sizes. From --stream-from-rows rows (default 20M, what adamant's settings default to) a
job prepares its Parquet table by streaming (adamant/preparation/streamed.py) and trains on the
encoded rows from disk in shuffled blocks (worker/engine/blocks.py). There the steps are: read =
a pyarrow scan of every record batch (one pass, the floor of a streaming preparation's two),
encode not run (an in-memory floor), prepare = prepare_streamed, epoch = the job for
--stream-epochs (1) epoch(s). Their memory estimate does not grow with the rows.

bytes/row = (the job's peak RSS - the job process's RSS after its imports) / rows: what each
row costs, without the fixed ~0.3 GB of Python, pandas and torch. Before each step its memory
is estimated from the largest size already measured in this run (RSS after imports +
bytes/row x rows, +10%) or, before any, from a prior (today's path: ~5.7 KB/row, the issue's
measurement); a step whose estimate passes --memory-limit-gb (default: 20 GB or 80% of this
machine's memory, the smaller) prints "skipped: needs ~X GB" instead of running.

Expected time on 2 cores / 24 GB: 100k rows ~15 s, 1M ~40 s, 10M ~3 min (its job peaks at
~3.4 GB), 100M (streamed) ~15 min and ~25 GB of disk in --workdir (the 6 GB table, 9 GB of
encoded rows twice). Before issue 11's compact encoding the 10M prepare and epoch were skipped
(~59 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GB = 1e9
DEFAULT_ROWS = [100_000, 1_000_000]
BATCH, HIDDEN = 1024, [64]
STEPS = ("read", "encode", "prepare", "epoch")
# Bytes of peak RSS per row assumed for a step before any size of this run measured it.
# prepare/epoch: the measurement of today's path (11.7 GB for 2.06M rows).
PRIOR_BYTES_PER_ROW = {"read": 600.0, "encode": 900.0, "prepare": 5_700.0, "epoch": 5_700.0, "collapse": 5_700.0}
CHILD_TIMEOUT_S = 3600
TARGET_10M_RSS_GB, TARGET_100M_RSS_GB = 6.0, 8.0
TARGET_PREPARE_OVER_READ = 3.0
COLLAPSE_MAX_ROWS = 1_000_000  # sizes at which the same job also runs with region/postcode collapsed
# A job streams a Parquet table of at least this many rows (adamant.settings' stream_from_rows; the
# children read ADAMANT_STREAM_FROM_ROWS, which --stream-from-rows sets). Streamed sizes' steps:
# read = a pyarrow scan by record batches (the floor of a pass), encode not run (an in-memory
# floor), prepare = adamant.preparation.streamed.prepare_streamed, epoch = the job for
# --stream-epochs (1). Their memory does not grow with the rows: STREAMED_PRIOR_BYTES.
DEFAULT_STREAM_FROM_ROWS = 20_000_000
STREAMED_PRIOR_BYTES = 4e9


def stream_from_rows() -> int:
    return int(os.environ.get("ADAMANT_STREAM_FROM_ROWS", DEFAULT_STREAM_FROM_ROWS))


def streams(rows: int) -> bool:
    return rows >= stream_from_rows()


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB, macOS bytes


def current_rss_bytes() -> int:
    """Resident set size now (Linux /proc; 0 where it cannot be read)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


@dataclass(frozen=True)
class Workload:
    device: str = "cpu"
    epochs: int = 3
    stream_epochs: int = 1  # at streamed sizes (an epoch of 100M rows takes minutes)


def job_spec_dict(path: Path, device: str, epochs: int = 1, high_cardinality: str = "embed") -> dict:
    return {
        "task": "binary_classification",
        "dataset": {"ref": f"file:{path}", "target": "y", "drop": ["duration"], "id_column": "customer_id",
                    "high_cardinality": high_cardinality},
        "model": {"type": "mlp", "hidden": HIDDEN},
        "training": {"epochs": epochs, "batch_size": BATCH, "seed": 0},
        "checkpointing": {"every_epochs": 1, "keep_last": 1},
        "resources": {"device": device},
    }


# --- the steps, each run in a child process -------------------------------------------------


def step_generate(path: Path, rows: int, job: Workload) -> dict:
    from bench.customer_tables import write_customer_table

    return write_customer_table(path, rows)


def step_read(path: Path, rows: int, job: Workload) -> dict:
    import pyarrow.parquet as pq

    if streams(rows):
        return step_scan(path)
    baseline = current_rss_bytes()
    started = time.perf_counter()
    table = pq.read_table(path)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "baseline_rss": baseline, "rows": table.num_rows, "arrow_bytes": table.nbytes}


def step_encode(path: Path, rows: int, job: Workload) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    baseline = current_rss_bytes()
    table = pq.read_table(path)
    started = time.perf_counter()
    categorical = [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    numeric = [f.name for f in table.schema if f.name not in categorical]
    codes = np.empty((table.num_rows, len(categorical)), dtype=np.int32)
    numbers = np.empty((table.num_rows, len(numeric)), dtype=np.float32)
    levels = {}
    for j, name in enumerate(categorical):
        encoded = pc.dictionary_encode(table.column(name))  # one dictionary shared by every chunk
        offset = 0
        for chunk in encoded.chunks:
            codes[offset : offset + len(chunk), j] = chunk.indices.to_numpy(zero_copy_only=False)
            offset += len(chunk)
        levels[name] = len(encoded.chunks[0].dictionary) if encoded.num_chunks else 0
    for j, name in enumerate(numeric):
        numbers[:, j] = table.column(name).cast(pa.float32()).to_numpy()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "baseline_rss": baseline, "encoded_bytes": codes.nbytes + numbers.nbytes, "levels": levels}


def step_scan(path: Path) -> dict:
    """The floor of one pass over a streamed table: pyarrow reads every record batch (text
    dictionary-encoded, as the job reads it) and lets it go."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    baseline = current_rss_bytes()
    started = time.perf_counter()
    schema = pq.ParquetFile(path).schema_arrow
    text = [field.name for field in schema if pa.types.is_string(field.type)]
    # pre_buffer=False as the job reads: with it, pyarrow keeps every range it read (6.7 GB at 100M rows)
    parquet = pq.ParquetFile(path, read_dictionary=text, pre_buffer=False)
    n = sum(batch.num_rows for batch in parquet.iter_batches(batch_size=1_000_000))
    return {"seconds": time.perf_counter() - started, "baseline_rss": baseline, "rows": n, "method": "scan"}


def step_prepare_streamed(path: Path, rows: int, job: Workload) -> dict:
    from adamant.preparation.streamed import prepare_streamed
    from adamant.spec import JobSpec

    spec = JobSpec.model_validate(job_spec_dict(path, job.device))
    folder = Path(tempfile.mkdtemp(prefix="adamant-streamed-", dir=path.parent))
    baseline = current_rss_bytes()
    started = time.perf_counter()
    try:
        data, _ = prepare_streamed(spec, path, folder)
        done = time.perf_counter()
        on_disk = sum(part.stat().st_size for part in folder.glob("*.npy"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "seconds": done - started,
        "baseline_rss": baseline,
        "streamed": True,
        "features": int(data.n_features),
        "matrix_bytes": on_disk,
        "wide_bytes": int(4 * data.n_features * (len(data.train_rows) + len(data.val_rows))),
        "x_dtype": f"{data.numbers_train.shape[1]} float32 numbers + {data.codes_train.shape[1]} {data.codes_train.dtype} codes",
        "fit_rows": int(len(data.fit_rows)),
    }


def step_prepare(path: Path, rows: int, job: Workload) -> dict:
    from adamant.datasets import load_dataset
    from adamant.preparation import prepare_training_data
    from adamant.spec import JobSpec

    if streams(rows):
        return step_prepare_streamed(path, rows, job)
    spec = JobSpec.model_validate(job_spec_dict(path, job.device))
    baseline = current_rss_bytes()
    started = time.perf_counter()
    frame = load_dataset(spec.dataset, file_roots=[path.parent])
    loaded = time.perf_counter()
    data = prepare_training_data(spec, frame)
    done = time.perf_counter()
    return {
        "seconds": done - started,
        "baseline_rss": baseline,
        "load_seconds": loaded - started,
        "prepare_seconds": done - loaded,
        "features": int(data.n_features),
        "matrix_bytes": int(data.train.nbytes + data.val.nbytes),
        "wide_bytes": int(4 * data.n_features * (len(data.train_rows) + len(data.val_rows))),
        "x_dtype": f"{data.numbers_train.shape[1]} float32 numbers + {data.codes_train.shape[1]} {data.codes_train.dtype} codes",
        "excluded": dict(data.excluded_columns),
    }


class _Timings:
    """A Reporter that only notes the times of the loop's start, each epoch's validation metrics and checkpoint."""

    def __init__(self) -> None:
        self.loop_started: float | None = None
        self.validated: list[float] = []
        self.checkpointed: list[float] = []
        self.val_metrics: dict[str, float] = {}
        self.logs: list[str] = []

    def progress(self, progress) -> None:
        pass

    def metrics(self, points) -> None:
        if any(p.name.startswith("val_") for p in points):
            self.validated.append(time.perf_counter())
            self.val_metrics = {p.name: p.value for p in points}

    def checkpoint(self, info) -> None:
        self.checkpointed.append(time.perf_counter())

    def epoch_seconds(self) -> list[float]:
        """Each epoch from its first step to its validation metrics (after the previous epoch's checkpoint)."""
        starts = [self.loop_started, *self.checkpointed[: len(self.validated) - 1]]
        return [end - start for start, end in zip(starts, self.validated)]

    def log(self, message: str) -> None:
        self.logs.append(message)

    def resumed(self, step: int) -> None:
        self.loop_started = time.perf_counter()

    def should_stop(self) -> bool:
        return False


def step_epoch(path: Path, rows: int, job: Workload, high_cardinality: str = "embed") -> dict:
    import torch

    from adamant.spec import JobSpec
    from worker.engine.run import run_training

    epochs = job.stream_epochs if streams(rows) else job.epochs
    spec = JobSpec.model_validate(job_spec_dict(path, job.device, epochs, high_cardinality))
    reporter = _Timings()
    baseline = current_rss_bytes()
    run_dir = Path(tempfile.mkdtemp(prefix="adamant-data-scale-", dir=path.parent))
    try:
        started = time.perf_counter()
        result = run_training(spec, run_dir, reporter, file_roots=[path.parent], resume=False)
        finished = time.perf_counter()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    if reporter.loop_started is None or len(reporter.validated) != epochs:
        raise RuntimeError(f"{len(reporter.validated)} of {epochs} epochs reached validation (stop reason {result.stop_reason})")
    each_epoch = reporter.epoch_seconds()
    epoch_seconds = min(each_epoch)
    train_rows = round(rows * (1 - spec.dataset.validation.fraction))
    return {
        "seconds": finished - started,
        "baseline_rss": baseline,
        "before_loop_seconds": reporter.loop_started - started,
        "epoch_seconds": epoch_seconds,
        "each_epoch_seconds": each_epoch,
        "train_rows": train_rows,
        "samples_per_s": train_rows / epoch_seconds,
        "val_auc": reporter.val_metrics.get("val_auc"),
        "streamed": any(message.startswith("prepared data by streaming") for message in reporter.logs),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "logs": reporter.logs,
    }


def step_collapse(path: Path, rows: int, job: Workload) -> dict:
    """The same job with dataset.high_cardinality "collapse": region and postcode one-hot over
    their 50 most frequent levels plus __other__ (the path before embeddings), for its val AUC."""
    return step_epoch(path, rows, job, high_cardinality="collapse")


CHILD_STEPS = {"generate": step_generate, "read": step_read, "encode": step_encode, "prepare": step_prepare, "epoch": step_epoch,
               "collapse": step_collapse}


def child_main(step: str, path: Path, rows: int, job: Workload) -> int:
    result = CHILD_STEPS[step](path, rows, job)
    result["peak_rss"] = peak_rss_bytes()
    result["code"] = str(Path(sys.modules["adamant"].__file__).parents[1]) if "adamant" in sys.modules else None
    print("RESULT " + json.dumps(result), flush=True)
    return 0


# --- the parent: stdlib only, so that it stays small ----------------------------------------


def run_child(step: str, path: Path, rows: int, job: Workload, timeout_s: float) -> dict:
    command = [sys.executable, "-m", "bench.data_scale", "--child", step, "--file", str(path), "--rows", str(rows),
               "--device", job.device, "--epochs", str(job.epochs), "--stream-epochs", str(job.stream_epochs)]
    # ADAMANT_HOME next to the table: whatever a job writes there (a prepared-data cache) starts
    # empty for each step and goes away with the tables.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
           "ADAMANT_HOME": str(path.parent / f"home-{step}-{rows}")}
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    wall = time.perf_counter() - started
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
            result["process_seconds"] = wall
            return result
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    killed = " (killed: out of memory?)" if done.returncode in (-9, 137) else ""
    return {"error": f"exit {done.returncode}{killed}: " + " | ".join(tail)}


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_bytes": memory,
        "python": platform.python_version(),
        "load_before": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def bytes_per_row(result: dict, rows: int) -> float:
    """What a row adds to a step's peak RSS: the peak less the process's RSS after its imports, per row."""
    return (result["peak_rss"] - result.get("baseline_rss", 0)) / rows


def projected_bytes(result: dict, measured_rows: int, rows: int) -> float:
    return result.get("baseline_rss", 0) + bytes_per_row(result, measured_rows) * rows


def estimate_bytes(step: str, rows: int, measured: dict[int, dict]) -> float:
    """Peak RSS this step would need at `rows`, from the largest size measured so far (+10%), else the prior.
    A streamed size's steps do not grow with the rows: the largest streamed size's peak, else a prior."""
    if streams(rows):
        peaks = [measured[size][step]["peak_rss"] for size in sorted(measured, reverse=True)
                 if streams(size) and "peak_rss" in measured[size].get(step, {})]
        return peaks[0] * 1.1 if peaks else STREAMED_PRIOR_BYTES
    for size in sorted(measured, reverse=True):
        result = measured[size].get(step)
        if result and "peak_rss" in result:
            return projected_bytes(result, size, rows) * 1.1
    return PRIOR_BYTES_PER_ROW[step] * rows


def measure(sizes: list[int], *, workdir: Path, job: Workload, memory_limit: float, timeout_s: float, log=print) -> dict:
    info = machine()
    measured: dict[int, dict] = {}
    for rows in sizes:
        path = workdir / f"customers-{rows}.parquet"
        size_started = time.perf_counter()
        log(f"[{rows:,} rows] generating {path.name} ...")
        results: dict = {"generate": run_child("generate", path, rows, job, timeout_s)}
        if "error" not in results["generate"]:
            for step in STEPS:
                if step == "encode" and streams(rows):
                    results[step] = {"skipped": "skipped: an in-memory floor (this size streams)"}
                    continue
                need = estimate_bytes(step, rows, measured)
                if need > memory_limit:
                    results[step] = {"skipped": f"skipped: needs ~{need / GB:.0f} GB"}
                    log(f"[{rows:,} rows] {step}: {results[step]['skipped']} (limit {memory_limit / GB:.0f} GB)")
                    continue
                log(f"[{rows:,} rows] {step} ...")
                results[step] = run_child(step, path, rows, job, timeout_s)
                if "error" in results[step]:
                    log(f"[{rows:,} rows] {step}: {results[step]['error']}")
            if rows <= COLLAPSE_MAX_ROWS and not streams(rows) and "val_auc" in results.get("epoch", {}):
                log(f"[{rows:,} rows] collapse ...")
                results["collapse"] = run_child("collapse", path, rows, job, timeout_s)
        results["wall_seconds"] = time.perf_counter() - size_started
        measured[rows] = results
        path.unlink(missing_ok=True)
        for home in workdir.glob(f"home-*-{rows}"):
            shutil.rmtree(home, ignore_errors=True)
    info["load_after"] = os.getloadavg()
    return {"machine": info, "device": job.device, "epochs": job.epochs, "stream_epochs": job.stream_epochs,
            "stream_from_rows": stream_from_rows(), "memory_limit_bytes": memory_limit,
            "sizes": {str(k): v for k, v in measured.items()}}


# --- the report -----------------------------------------------------------------------------

COLUMNS = [
    ("rows", 11),
    ("file MB", 8),
    ("floor read s", 12),
    ("read RSS GB", 11),
    ("floor encode s", 14),
    ("encode RSS GB", 13),
    ("adamant prepare s", 17),
    ("prepare RSS GB", 14),
    ("epoch samples/s", 15),
    ("epoch s", 8),
    ("job RSS GB", 10),
    ("bytes/row", 9),
    ("val AUC", 7),
    ("collapse AUC", 12),
]


def _seconds(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _cell(result: dict | None, key: str, fmt: str) -> str:
    if not result:
        return "-"
    if "skipped" in result:
        return "skipped"
    if "error" in result:
        return "failed"
    value = result.get(key)
    if value is None:
        return "-"
    return _seconds(value) if fmt == "s" else format(value, fmt)


def table_rows(report: dict) -> list[list[str]]:
    rows = []
    for size, r in report["sizes"].items():
        n = int(size)
        epoch = r.get("epoch") or {}
        per_row = f"{bytes_per_row(epoch, n):,.0f}" if "peak_rss" in epoch else _cell(epoch, "peak_rss", "")
        rows.append([
            f"{n:,}",
            _cell(r.get("generate"), "bytes", "") if "bytes" not in r.get("generate", {}) else f"{r['generate']['bytes'] / 1e6:.1f}",
            _cell(r.get("read"), "seconds", "s"),
            _gb(r.get("read")),
            _cell(r.get("encode"), "seconds", "s"),
            _gb(r.get("encode")),
            _cell(r.get("prepare"), "seconds", "s"),
            _gb(r.get("prepare")),
            _cell(epoch, "samples_per_s", ",.0f"),
            _cell(epoch, "epoch_seconds", "s"),
            _gb(epoch),
            per_row,
            _cell(epoch, "val_auc", ".4f"),
            _cell(r.get("collapse"), "val_auc", ".4f"),
        ])
    return rows


def _gb(result: dict | None) -> str:
    if result and "peak_rss" in result:
        return f"{result['peak_rss'] / GB:.2f}"
    return _cell(result, "peak_rss", "")


def target_lines(report: dict) -> list[str]:
    lines = []
    for size, r in report["sizes"].items():
        read, prepare, epoch = r.get("read", {}), r.get("prepare", {}), r.get("epoch", {})
        if "seconds" in read and "seconds" in prepare:
            ratio = prepare["seconds"] / read["seconds"]
            met = "met" if ratio <= TARGET_PREPARE_OVER_READ else "not met"
            if read.get("method") == "scan":  # streamed: the floor reads and converts nothing, writes nothing
                lines.append(f"{int(size):>11,} rows: prepare <= 3x pyarrow's scan (streamed: two passes, the encoded rows "
                             f"written to disk): {prepare['seconds']:.1f} s = {ratio:.1f}x the scan -> {met}")
            else:
                lines.append(f"{int(size):>11,} rows: prepare <= 3x pyarrow read: {prepare['seconds']:.1f} s = {ratio:.1f}x read -> {met}")
        if "seconds" in prepare and "epoch_seconds" in epoch:
            met = "met" if prepare["seconds"] <= epoch["epoch_seconds"] else "not met"
            lines.append(f"{int(size):>11,} rows: prepare <= one epoch: {prepare['seconds']:.1f} s vs epoch {epoch['epoch_seconds']:.1f} s -> {met}")
        collapse = r.get("collapse", {})
        if epoch.get("val_auc") is not None and collapse.get("val_auc") is not None:
            margin = epoch["val_auc"] - collapse["val_auc"]
            lines.append(f"{int(size):>11,} rows: embedding beats the 50-level collapse: val AUC {epoch['val_auc']:.4f} vs "
                         f"{collapse['val_auc']:.4f} ({margin:+.4f}) -> {'met' if margin > 0 else 'not met'}")
    lines += [_rss_target(report, 10_000_000, TARGET_10M_RSS_GB, "trains one epoch"),
              _rss_target(report, 100_000_000, TARGET_100M_RSS_GB, "streams")]
    return lines


def _rss_target(report: dict, rows: int, limit_gb: float, what: str) -> str:
    head = f"{rows:>11,} rows: {what} with peak RSS <= {limit_gb:.0f} GB:"
    epoch = report["sizes"].get(str(rows), {}).get("epoch", {})
    if "peak_rss" in epoch:
        peak = epoch["peak_rss"] / GB
        return f"{head} {peak:.1f} GB -> {'met' if peak <= limit_gb else 'not met'}"
    threshold = report.get("stream_from_rows", DEFAULT_STREAM_FROM_ROWS)  # project from sizes on the same path only
    measured = [(int(s), r["epoch"]) for s, r in report["sizes"].items()
                if "peak_rss" in r.get("epoch", {}) and (int(s) >= threshold) == (rows >= threshold)]
    if not measured:
        return f"{head} not measured"
    size, largest = max(measured, key=lambda item: item[0])
    projected = projected_bytes(largest, size, rows) / GB
    why = epoch.get("skipped", "not run") if epoch else "not run"
    return f"{head} {why}; projected from {size:,} rows: ~{projected:,.0f} GB -> {'met' if projected <= limit_gb else 'not met'}"


def render(report: dict) -> str:
    m = report["machine"]
    usable = f" ({m['usable_cores']} usable)" if m["usable_cores"] != m["cores"] else ""
    epochs = [r["epoch"] for r in report["sizes"].values() if "torch" in r.get("epoch", {})]
    torch_note = f", torch {epochs[0]['torch']} ({epochs[0]['torch_threads']} threads)" if epochs else ""
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores{usable}, {m['memory_bytes'] / 2**30:.0f} GiB RAM, python {m['python']}{torch_note}, "
        f"device {report['device']}; {m['date']}",
        "load average before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}".format(*m["load_before"], *m["load_after"]),
        "method: each step in a fresh process, peak RSS = its getrusage ru_maxrss (imports included); floor = pyarrow "
        "read_table, then dictionary_encode -> int32 codes and float32 numerics; prepare = adamant load_dataset + "
        f"prepare_training_data; epoch = worker.engine.run.run_training, mlp {HIDDEN}, batch {BATCH}, fastest of {report['epochs']} epochs; "
        "bytes/row = (job peak RSS - its RSS after imports) / rows; GB = 1e9 bytes",
        f"streamed sizes (>= {report.get('stream_from_rows', DEFAULT_STREAM_FROM_ROWS):,} rows, the job's ADAMANT_STREAM_FROM_ROWS): "
        "floor read = a pyarrow scan by record batches (one pass), no encode floor, prepare = prepare_streamed (two passes, "
        f"the encoded rows written to disk), epoch = the job for {report.get('stream_epochs', 1)} epoch(s), training in shuffled blocks",
        "",
    ]
    header = "  ".join(f"{name:>{width}}" for name, width in COLUMNS)
    lines += [header, "-" * len(header)]
    for row in table_rows(report):
        lines.append("  ".join(f"{cell:>{width}}" for cell, (_, width) in zip(row, COLUMNS)))
    lines += ["", "targets (issue 11; 10M and 100M on 2 cores / 24 GB):", *target_lines(report)]
    notes = []
    for size, r in report["sizes"].items():
        prepare = r.get("prepare", {})
        epoch = r.get("epoch", {})
        if "epoch_seconds" in epoch:
            each = epoch["each_epoch_seconds"]
            after = epoch["seconds"] - epoch["before_loop_seconds"] - sum(each)
            notes.append(f"{int(size):>11,} rows: job {epoch['seconds']:.1f} s = {epoch['before_loop_seconds']:.1f} s before the loop "
                         f"(load, prepare, model) + epochs {' + '.join(f'{e:.1f}' for e in each)} s + {after:.1f} s "
                         f"(checkpoints, reference profile); code measured: {epoch.get('code')}")
        if prepare.get("streamed"):
            notes.append(f"{int(size):>11,} rows: streamed: {prepare['features']} features ({prepare['x_dtype']}), fitted on a sample of "
                         f"{prepare['fit_rows']:,} training rows; {prepare['matrix_bytes'] / GB:.2f} GB of encoded rows on disk "
                         f"(the float32 feature matrix would be {prepare['wide_bytes'] / GB:.2f} GB); whole size took {r['wall_seconds']:.0f} s")
        elif "features" in prepare:
            notes.append(f"{int(size):>11,} rows: {prepare['features']} features ({prepare['x_dtype']}), load {prepare['load_seconds']:.1f} s + "
                         f"prepare {prepare['prepare_seconds']:.1f} s; encoded {prepare['matrix_bytes'] / GB:.2f} GB "
                         f"(the float32 feature matrix would be {prepare.get('wide_bytes', 0) / GB:.2f} GB); whole size took "
                         f"{r['wall_seconds']:.0f} s")
        for step in ("generate", *STEPS):
            if "error" in r.get(step, {}):
                notes.append(f"{int(size):>11,} rows: {step} failed: {r[step]['error']}")
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=DEFAULT_ROWS)
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    parser.add_argument("--epochs", type=int, default=Workload.epochs, help="epochs the job runs; samples/s is its fastest")
    parser.add_argument("--stream-epochs", type=int, default=Workload.stream_epochs, help="epochs the job runs at streamed sizes")
    parser.add_argument("--stream-from-rows", type=int, default=None,
                        help=f"sizes from which a job streams (sets ADAMANT_STREAM_FROM_ROWS; default {DEFAULT_STREAM_FROM_ROWS:,})")
    parser.add_argument("--memory-limit-gb", type=float, default=None)
    parser.add_argument("--timeout-s", type=float, default=CHILD_TIMEOUT_S, help="per step")
    parser.add_argument("--workdir", type=Path, default=None, help="where the tables are written (a temporary folder by default)")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", choices=sorted(CHILD_STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    job = Workload(device=args.device, epochs=args.epochs, stream_epochs=args.stream_epochs)
    if args.child:
        return child_main(args.child, args.file, args.rows[0], job)

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = args.memory_limit_gb * GB if args.memory_limit_gb else min(20 * GB, 0.8 * memory)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="adamant-data-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    before = os.environ.get("ADAMANT_STREAM_FROM_ROWS")
    if args.stream_from_rows is not None:
        os.environ["ADAMANT_STREAM_FROM_ROWS"] = str(args.stream_from_rows)  # the children inherit it
    try:
        report = measure(sorted(args.rows), workdir=workdir, job=job, memory_limit=limit, timeout_s=args.timeout_s,
                         log=lambda message: print(message, file=sys.stderr, flush=True))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
        if before is None:
            os.environ.pop("ADAMANT_STREAM_FROM_ROWS", None)
        else:
            os.environ["ADAMANT_STREAM_FROM_ROWS"] = before
    text = render(report)
    print(text)
    if args.markdown:
        args.markdown.write_text(f"`python -m bench.data_scale --rows {' '.join(map(str, sorted(args.rows)))}`\n\n```\n{text}\n```\n")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
