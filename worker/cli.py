"""`adamant train` and `adamant predict` on this machine, without the service.

The CLI reporter draws a progress bar with epoch, loss and ETA, prints log lines, and writes
every metric point to DIR/metrics.jsonl (the second real Reporter beside the database one).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Sequence

import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from adamant.datasets import read_table
from adamant.exceptions import AdamantError
from adamant.ranking.top_k import join_item_metadata
from adamant.scoring import load_scorer, score_frame
from adamant.scoring.table import gives_top_k
from adamant.spec import JobSpec
from worker.engine import reporting
from worker.engine.reporting import CheckpointInfo, JsonlMetricsWriter, MetricPoint
from worker.engine.run import run_training
from worker.engine.tensorboard import TensorBoardReporter

console = Console(stderr=True)


class ConsoleReporter(reporting.NullReporter):
    def __init__(self, progress: Progress) -> None:
        self.bar = progress
        self.task = progress.add_task("training", total=None, loss="-", epoch="-")

    def progress(self, p: reporting.Progress) -> None:
        if p.data is not None:  # reading or preparing the table: rows, not steps
            total = f"/{p.data.rows_total:,}" if p.data.rows_total else ""
            self.bar.update(self.task, description=f"{p.data.phase} {p.data.rows_read:,}{total} rows")
            return
        self.bar.update(self.task, description="training", total=p.total_steps, completed=p.step,
                        epoch=f"{p.epoch:.2f}/{p.total_epochs}")

    def metrics(self, points: Sequence[MetricPoint]) -> None:
        for point in points:
            if point.name == "loss":
                self.bar.update(self.task, loss=f"{point.value:.4f}")
        evaluation = {p.name: p.value for p in points if p.name.startswith("val_") or p.name == "train_loss"}
        if evaluation:
            shown = "  ".join(f"{k}={v:.4f}" for k, v in sorted(evaluation.items()) if not k.startswith("segment_share"))
            self.bar.console.print(f"step {points[0].step:>7}  {shown}")

    def checkpoint(self, info: CheckpointInfo) -> None:
        best = " (best)" if info.is_best else ""
        self.bar.console.print(f"checkpoint step {info.step}{best}: {info.path}")

    def log(self, message: str) -> None:
        self.bar.console.print(f"[dim]{message}[/dim]")


def load_spec_file(path: Path) -> JobSpec:
    text = path.read_text()
    data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    return JobSpec.model_validate(data)


def with_absolute_file_ref(spec: JobSpec, base: Path) -> JobSpec:
    """A relative `file:` reference means relative to where the command runs, as paths do."""
    ref = spec.dataset.ref
    if not ref.startswith("file:") or ref.startswith("file://") or Path(ref[5:]).is_absolute():
        return spec
    dataset = spec.dataset.model_copy(update={"ref": f"file:{(base / ref[5:]).resolve()}"})
    return spec.model_copy(update={"dataset": dataset})


def train_command(spec_path: Path, out: Path, resume: bool = True) -> int:
    try:
        spec = with_absolute_file_ref(load_spec_file(spec_path), Path.cwd())
    except ValidationError as exc:
        for error in exc.errors():
            console.print(f"[red]spec error[/red] {'.'.join(map(str, error['loc']))}: {error['msg']}")
        return 2
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%  epoch {task.fields[epoch]}  loss {task.fields[loss]}"),
        TimeRemainingColumn(),
        console=console,
    )
    writer = JsonlMetricsWriter(out / "metrics.jsonl")
    tensorboard = TensorBoardReporter(out / "tensorboard")
    try:
        with bar:
            result = run_training(
                spec,
                out,
                reporting.FanOutReporter(ConsoleReporter(bar), writer, tensorboard),
                file_roots=[Path("/")],  # the local user may read any file they can open
                resume=resume,
            )
    except AdamantError as exc:
        console.print(f"[red]{exc.kind}[/red]: {exc}")
        return 1
    finally:
        writer.close()
        tensorboard.close()
    print_result(result.stop_reason, result.best_metrics, result.summary, out)
    return 0


def print_result(stop_reason: str, best: dict[str, float], summary: dict, out: Path) -> None:
    table = Table(title=f"finished: {stop_reason} — best checkpoint {out / 'best'}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in sorted(best.items()):
        table.add_row(name, "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}")
    for name, value in sorted(summary.get("metrics", {}).items()):
        table.add_row(name, f"{value:.4f}")
    Console().print(table)
    for segment in summary.get("segments", []):
        Console().print(f"segment {segment['segment']}: {segment['size']} customers ({segment['share']:.1%}) {segment['profile']}")


def predict_command(checkpoint: Path, rows: Path, output: Path | None, top_k: int, items: Path | None = None) -> int:
    """Score a table with a local checkpoint; a recommender's top-k rows get `items`' columns joined."""
    try:
        scorer = load_scorer(checkpoint)
        frame = read_table(rows)
        result = score_frame(scorer, frame, top_k=top_k)
        if items is not None and gives_top_k(scorer, frame):
            result = join_item_metadata(result, read_table(items), scorer.preprocessing.items.column)
    except AdamantError as exc:
        console.print(f"[red]{exc.kind}[/red]: {exc}")
        return 1
    if output is None:
        result.to_csv(sys.stdout, index=False)
    else:
        result.to_csv(output, index=False)
        console.print(f"wrote {len(result)} rows to {output}")
    return 0
