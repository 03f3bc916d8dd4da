"""TensorBoard event files of a run: every scalar metric point, written as it is reported.

Teams already watch training in TensorBoard; the files land in RUN_DIR/tensorboard and can be
downloaded with the job's artifacts (GET /v1/jobs/{id}/tensorboard, `adamant tensorboard`).
A resumed run opens its writer with purge_step, so TensorBoard hides the points of the
interrupted attempt after the checkpoint it resumed from — each step shows once.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from worker.engine.reporting import MetricPoint, NullReporter


class TensorBoardReporter(NullReporter):
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._writer = None

    def resumed(self, step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._writer = SummaryWriter(str(self.directory), purge_step=step + 1 if step else None, flush_secs=5)

    def metrics(self, points: Sequence[MetricPoint]) -> None:
        if self._writer is None:
            self.resumed(0)
        for point in points:
            if point.value is not None and math.isfinite(point.value):
                self._writer.add_scalar(point.name, point.value, global_step=point.step, walltime=point.time)

    def checkpoint(self, info) -> None:  # type: ignore[no-untyped-def]
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
