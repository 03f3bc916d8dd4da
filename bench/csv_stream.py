"""A CSV table too large for memory, streamed (issue 11): what rewriting it as Parquet costs, against
pyarrow's own read of the same file and against reading it whole.

    python -m bench.csv_stream [--rows 1000000 10000000] [--workdir DIR] [--json PATH]

Method. bench.customer_tables writes the synthetic customer table (bank-marketing's columns
jittered, a 1,000-level region and a 20,000-level postcode) as Parquet, then as CSV with
pyarrow's writer. Each step runs in a fresh process and reports its wall time and its peak RSS
(getrusage ru_maxrss, imports included):

- floor: pyarrow.csv.open_csv over the file, batch by batch, types inferred (one pass, nothing kept);
- whole: adamant's read_table of the file (the path a CSV below ADAMANT_STREAM_FROM_ROWS takes);
- rewrite: adamant.datasets.csv_stream.convert_csv (two passes: kinds, then typed Parquet);
- job: worker.engine.run.run_training streaming it (mlp [64], 1 epoch, ADAMANT_STREAM_FROM_ROWS
  set below the table): rewrite + streamed preparation + the epoch, val AUC.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_ROWS = [1_000_000]
STEPS = ("floor", "whole", "rewrite", "job")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux: KiB


def write_tables(workdir: Path, rows: int) -> Path:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from bench.customer_tables import write_customer_table

    csv = workdir / f"customers-{rows}.csv"
    if not csv.exists():
        parquet = workdir / f"customers-{rows}.parquet"
        write_customer_table(parquet, rows)
        source = pq.ParquetFile(parquet)
        with pacsv.CSVWriter(csv, source.schema_arrow) as writer:
            for batch in source.iter_batches(1_000_000):
                writer.write_batch(batch)
        parquet.unlink()
    return csv


def child(step: str, csv: Path) -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any] = {}
    if step == "floor":
        import pyarrow.csv as pacsv

        result["rows"] = sum(batch.num_rows for batch in pacsv.open_csv(csv))
    elif step == "whole":
        from adamant.datasets import read_table

        result["rows"] = len(read_table(csv))
    elif step == "rewrite":
        from adamant.datasets.csv_stream import convert_csv

        with tempfile.TemporaryDirectory(dir=csv.parent) as folder:
            convert_csv(csv, Path(folder) / "t.parquet")
    else:
        from adamant.spec import JobSpec
        from worker.engine.reporting import RecordingReporter
        from worker.engine.run import run_training

        spec = JobSpec.model_validate({
            "task": "binary_classification", "dataset": {"ref": f"file:{csv}", "target": "y", "id_column": "customer_id"},
            "model": {"type": "mlp", "hidden": [64]}, "training": {"epochs": 1, "batch_size": 1024},
            "resources": {"device": "cpu"},
        })
        reporter = RecordingReporter()
        with tempfile.TemporaryDirectory(dir=csv.parent) as folder:
            outcome = run_training(spec, Path(folder) / "run", reporter, file_roots=[csv.parent], prepared_cache=None,
                                   stream_from_rows=1)
        result["val_auc"] = outcome.best_metrics.get("val_auc")
        result["log"] = [m for m in reporter.messages if m.startswith(("rewrote", "prepared data by streaming"))]
    result |= {"seconds": time.perf_counter() - started, "peak_rss_gb": peak_rss_gb()}
    return result


def run_child(step: str, csv: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bench.csv_stream", "--child", step, "--file", str(csv)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def render(report: dict[str, Any]) -> str:
    lines = [f"machine: {report['machine']}; {report['when']}",
             "method: each step a fresh process; s = wall seconds, GB = its peak RSS (ru_maxrss, imports included)",
             "",
             f"{'rows':>12} {'CSV GB':>7} {'floor s':>8} {'floor GB':>9} {'whole s':>8} {'whole GB':>9} "
             f"{'rewrite s':>10} {'rewrite GB':>11} {'x floor':>8} {'job s':>7} {'job GB':>7} {'val AUC':>8}"]
    for size in report["sizes"]:
        r = size["steps"]

        def cell(step: str, key: str, fmt: str) -> str:
            value = r.get(step, {}).get(key)
            return format(value, fmt) if isinstance(value, (int, float)) else "error"

        ratio = (r["rewrite"]["seconds"] / r["floor"]["seconds"]) if "seconds" in r["rewrite"] and "seconds" in r["floor"] else None
        lines.append(f"{size['rows']:>12,} {size['csv_gb']:>7.2f} {cell('floor', 'seconds', '.1f'):>8} {cell('floor', 'peak_rss_gb', '.2f'):>9} "
                     f"{cell('whole', 'seconds', '.1f'):>8} {cell('whole', 'peak_rss_gb', '.2f'):>9} "
                     f"{cell('rewrite', 'seconds', '.1f'):>10} {cell('rewrite', 'peak_rss_gb', '.2f'):>11} "
                     f"{(format(ratio, '.1f') + 'x') if ratio else '-':>8} {cell('job', 'seconds', '.1f'):>7} "
                     f"{cell('job', 'peak_rss_gb', '.2f'):>7} {cell('job', 'val_auc', '.4f'):>8}")
    lines.append("notes:")
    for size in report["sizes"]:
        for line in size["steps"].get("job", {}).get("log", []):
            lines.append(f"  {size['rows']:>12,} rows: {line}")
        for step, result in size["steps"].items():
            if "error" in result:
                lines.append(f"  {size['rows']:>12,} rows: {step} failed: {result['error']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=DEFAULT_ROWS)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.file)))
        return 0
    import platform

    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        report: dict[str, Any] = {"machine": f"{platform.processor() or platform.machine()}, python {platform.python_version()}",
                                  "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "sizes": []}
        for rows in args.rows:
            csv = write_tables(workdir, rows)
            steps = {step: run_child(step, csv) for step in STEPS}
            report["sizes"].append({"rows": rows, "csv_gb": csv.stat().st_size / 1e9, "steps": steps})
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
