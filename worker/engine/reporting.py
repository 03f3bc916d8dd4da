"""What the engine tells the world while it trains, and how it is asked to stop.

The engine calls a Reporter; it never prints, writes a database or checks a flag itself. Two
real reporters exist: the CLI's (a progress bar and metrics.jsonl) and the worker's (the
database, with heartbeats and a fenced lease). `should_stop` runs every step, so an
implementation must answer from memory and do its I/O at most every so often.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, Sequence


@dataclass(frozen=True)
class MetricPoint:
    step: int
    epoch: float
    name: str
    value: float
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class DataProgress:
    """How far reading and preparing the table is, before the first training step."""

    phase: str  # reading | converting (a CSV rewritten as Parquet to stream) | preparing | from cache | ready
    rows_read: int
    rows_total: int | None  # Parquet's footer; a text file's line count while it is read (an estimate)
    rows_per_s: float | None
    eta_s: float | None


@dataclass(frozen=True)
class Progress:
    step: int
    total_steps: int
    epoch: float
    total_epochs: int
    samples_per_s: float
    elapsed_s: float
    eta_s: float | None
    phase: str = "training"  # loading | training | evaluating | checkpointing | segmenting
    data: DataProgress | None = None  # set on the data phase's reports (phase "loading"), None on training's

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0


@dataclass(frozen=True)
class CheckpointInfo:
    step: int
    epoch: float
    path: Path
    metrics: dict[str, float]
    sha256: str
    size_bytes: int
    is_best: bool


class Reporter(Protocol):
    def progress(self, progress: Progress) -> None: ...

    def metrics(self, points: Sequence[MetricPoint]) -> None: ...

    def checkpoint(self, info: CheckpointInfo) -> None: ...

    def log(self, message: str) -> None: ...

    def resumed(self, step: int) -> None:
        """Training (re)starts at `step` (0 when fresh): anything reported after it is void."""
        ...

    def should_stop(self) -> bool: ...


class NullReporter:
    """Reports nothing and never asks to stop (tests, benchmarks)."""

    def progress(self, progress: Progress) -> None:
        pass

    def metrics(self, points: Sequence[MetricPoint]) -> None:
        pass

    def checkpoint(self, info: CheckpointInfo) -> None:
        pass

    def log(self, message: str) -> None:
        pass

    def resumed(self, step: int) -> None:
        pass

    def should_stop(self) -> bool:
        return False


class RecordingReporter(NullReporter):
    """Keeps everything in lists: what tests and the benchmark read back."""

    def __init__(self) -> None:
        self.points: list[MetricPoint] = []
        self.progresses: list[Progress] = []
        self.checkpoints: list[CheckpointInfo] = []
        self.messages: list[str] = []
        self.stop_after_steps: int | None = None

    def progress(self, progress: Progress) -> None:
        self.progresses.append(progress)

    def metrics(self, points: Sequence[MetricPoint]) -> None:
        self.points.extend(points)

    def checkpoint(self, info: CheckpointInfo) -> None:
        self.checkpoints.append(info)

    def log(self, message: str) -> None:
        self.messages.append(message)

    def should_stop(self) -> bool:
        if self.stop_after_steps is None:
            return False
        self.stop_after_steps -= 1
        return self.stop_after_steps < 0

    def series(self, name: str) -> list[tuple[int, float]]:
        return [(p.step, p.value) for p in self.points if p.name == name]


class JsonlMetricsWriter(NullReporter):
    """Appends every metric point to a metrics.jsonl file, one JSON object per line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")

    def metrics(self, points: Sequence[MetricPoint]) -> None:
        for point in points:
            self._file.write(json.dumps(asdict(point)) + "\n")
        self._file.flush()

    def resumed(self, step: int) -> None:
        """Drop points after the checkpoint a run resumes from, so no step appears twice."""
        self._file.close()
        kept = [line for line in self.path.read_text(encoding="utf-8").splitlines() if json.loads(line)["step"] <= step]
        self.path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        self._file = self.path.open("a", encoding="utf-8")

    def close(self) -> None:
        self._file.close()


class FanOutReporter:
    """Sends every event to several reporters; stops when any of them asks to."""

    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = reporters

    def progress(self, progress: Progress) -> None:
        for r in self.reporters:
            r.progress(progress)

    def metrics(self, points: Sequence[MetricPoint]) -> None:
        for r in self.reporters:
            r.metrics(points)

    def checkpoint(self, info: CheckpointInfo) -> None:
        for r in self.reporters:
            r.checkpoint(info)

    def log(self, message: str) -> None:
        for r in self.reporters:
            r.log(message)

    def resumed(self, step: int) -> None:
        for r in self.reporters:
            r.resumed(step)

    def should_stop(self) -> bool:
        return any(r.should_stop() for r in self.reporters)
