"""Following a job on the service: a live progress bar (epoch, step, loss, ETA) drawn from polls,
each evaluation printed as it arrives, and the outcome once the job ends.

Each tick asks three cheap questions: the job (with its ETag, so an unchanged job is a 304),
the metric points after our cursor, and the log lines after our cursor. Points and lines arrive
once each, in order; the last tick after the job ends drains whatever came before the end.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from client.api import TERMINAL_STATUSES, AdamantClient
from client.display import data_phase_text, duration, evaluation_line, is_evaluation, number

METRIC_PAGE = 5000
LOG_PAGE = 1000


class JobFollower:
    """Polls one job and draws it; `run()` returns the job once it has ended."""

    def __init__(self, client: AdamantClient, job_id: str, console: Console, *, interval: float = 1.0,
                 show_logs: bool = True) -> None:
        self.client, self.job_id, self.interval, self.show_logs = client, job_id, interval, show_logs
        self.bar = Progress(
            TextColumn("[bold]{task.fields[status]:<10}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("epoch {task.fields[epoch]}  step {task.fields[step]}  loss {task.fields[loss]}  ETA {task.fields[eta]}"),
            console=console,
        )
        self.task: TaskID | None = None
        self.job: dict[str, Any] | None = None
        self.etag: str | None = None
        self.metric_cursor = 0
        self.log_cursor = 0

    def run(self) -> dict[str, Any]:
        with self.bar:
            self.task = self.bar.add_task(self.job_id, total=None, status="queued", epoch="-", step="-", loss="-", eta="-")
            while True:
                ended = self.tick()
                if ended:
                    break
                time.sleep(self.interval)
        assert self.job is not None
        return self.job

    def tick(self) -> bool:
        """One round of polls; True once the job has ended and everything it wrote is shown."""
        fresh, self.etag = self.client.get_job(self.job_id, self.etag)
        if fresh is not None:
            self.job = fresh
            self._draw_progress(fresh)
        self._drain_metrics()  # after the status: every point written before an end is in this page
        if self.show_logs:
            self._drain_logs()
        return self.job is not None and self.job["status"] in TERMINAL_STATUSES

    def _draw_progress(self, job: dict[str, Any]) -> None:
        progress = job.get("progress") or {}
        epochs = progress.get("total_epochs")
        step, total = progress.get("step", 0), progress.get("total_steps")
        eta = progress.get("eta_s")
        reading = data_phase_text(progress) if job["status"] == "running" else None
        if reading is not None:  # before the first step: rows of the table, not steps
            data = progress["data"]
            self.bar.update(self.task, total=data.get("rows_total"), completed=data.get("rows_read") or 0,
                            status=data["phase"], step=reading, epoch="-", eta="-")
            return
        self.bar.update(
            self.task, total=total, completed=step, status=job["status"],
            epoch=f"{progress.get('epoch') or 0:.2f}/{epochs}" if epochs else f"{progress.get('epoch') or 0:.2f}",
            step=f"{step}/{total}" if total else str(step),
            eta=duration(eta) if eta is not None and job["status"] == "running" else "-",
        )

    def _drain_metrics(self) -> None:
        while True:
            points, self.metric_cursor = self.client.metrics(self.job_id, after=self.metric_cursor, limit=METRIC_PAGE)
            self._show_points(points)
            if len(points) < METRIC_PAGE:
                return

    def _show_points(self, points: list[dict[str, Any]]) -> None:
        evaluations: dict[int, dict[str, Any]] = defaultdict(dict)
        epochs: dict[int, float | None] = {}
        for point in points:
            if point["name"] == "loss" and point["value"] is not None:
                self.bar.update(self.task, loss=number(point["value"]))
            elif is_evaluation(point["name"]):
                evaluations[point["step"]][point["name"]] = point["value"]
                epochs[point["step"]] = point.get("epoch")
        for step in sorted(evaluations):
            self.bar.console.print(evaluation_line(step, epochs[step], evaluations[step]), markup=False, highlight=False,
                                   soft_wrap=True)

    def _drain_logs(self) -> None:
        while True:
            lines, self.log_cursor = self.client.logs(self.job_id, after=self.log_cursor, limit=LOG_PAGE)
            for line in lines:
                level = line.get("level", "info")
                style = "red" if level in ("error", "critical") else "yellow" if level == "warning" else "dim"
                self.bar.console.print(f"[{style}]{escape(line['message'])}[/{style}]", highlight=False, soft_wrap=True)
            if len(lines) < LOG_PAGE:
                return


def follow_job(client: AdamantClient, job_id: str, console: Console, *, interval: float = 1.0) -> dict[str, Any]:
    """Draw the job until it ends; returns it then."""
    return JobFollower(client, job_id, console, interval=interval).run()
