"""The engine's Reporter that writes to the database: metrics, logs, checkpoints, heartbeats.

Every write carries the lease's fencing token, so a trainer that lost its lease (paused past
its TTL, then resumed) has each write refused and stops at its next step. Writes are batched:
metric points and log lines are buffered and flushed together at most every `flush_s`, and
the heartbeat (with progress) rides along, so a step costs no database round trip.
`should_stop` answers from memory — the cancel flag comes back with each heartbeat.

With an artifact store to mirror to (ADAMANT_ARTIFACTS_URL), each checkpoint the engine wrote
locally is uploaded before it is recorded — a recorded checkpoint is always downloadable —
and the ones the engine pruned are deleted from the store after their rows are forgotten.
Log lines also go to the process's logger (adamant.trainer.job), so they reach the
structured log with the job's id as well as the job's log in the database.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from sqlalchemy.orm import Session

from adamant.artifacts import ArtifactStore
from adamant.store import checkpoints as store_checkpoints
from adamant.store import jobs as store_jobs
from adamant.store import logs as store_logs
from adamant.store import metrics as store_metrics
from adamant.store import sweeps as store_sweeps
from adamant.store.exceptions import LeaseLost, StoreUnavailable
from adamant.store.jobs import Lease
from worker.engine.reporting import CheckpointInfo, DataProgress, MetricPoint, Progress

FLUSH_S = 1.0
MAX_BUFFER = 2000
OUTAGE_BUFFER = 100_000  # points held through a database outage before the trainer gives up
job_log = logging.getLogger("adamant.trainer.job")
log = logging.getLogger("adamant.trainer")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class DatabaseReporter:
    def __init__(
        self,
        sessions: Callable[[], Session],
        lease: Lease,
        *,
        ttl_s: float,
        heartbeat_s: float,
        run_dir: Path,
        artifact_root: Path,
        artifacts: ArtifactStore | None = None,
    ) -> None:
        self.sessions = sessions
        self.lease = lease
        self.ttl_s = ttl_s
        self.heartbeat_s = heartbeat_s
        self.run_dir = run_dir
        self.artifact_root = artifact_root
        self.artifacts = artifacts  # where checkpoints are mirrored; None: the local root is the store
        self.cancel_requested = False
        self.draining = False  # set on SIGTERM or when the supervisor is gone: checkpoint and requeue
        self._parent = os.getppid()
        self._lost: LeaseLost | None = None
        self._points: list[tuple[int, float, str, float | None, float]] = []
        self._logs: list[tuple[float, str, str]] = []
        self._progress: Progress | None = None
        self._data: DataProgress | None = None  # the data phase's last numbers: kept once training reports
        self._last_flush = 0.0
        self._lock = threading.Lock()
        self._stop_keepalive = threading.Event()
        self._keepalive: threading.Thread | None = None

    # -- the Reporter protocol ------------------------------------------------------------
    def progress(self, progress: Progress) -> None:
        if progress.data is not None:
            self._data = progress.data
        else:
            self._progress = progress
        self._maybe_flush()

    def metrics(self, points: Sequence[MetricPoint]) -> None:
        with self._lock:
            self._points.extend((p.step, p.epoch, p.name, p.value, p.time) for p in points)
        if any(p.name.startswith("val_") for p in points) or len(self._points) >= MAX_BUFFER:
            self.flush()  # evaluation results are rare and what people wait for
        else:
            self._maybe_flush()

    def checkpoint(self, info: CheckpointInfo) -> None:
        self.flush()  # points up to the checkpoint land before it does
        pruned = sorted(p for p in (self.run_dir / "checkpoints").iterdir() if p.name.startswith("step-")) if (self.run_dir / "checkpoints").exists() else []
        kept = {self._relative(p) for p in pruned}
        if self.artifacts is not None:
            self.artifacts.put(self._relative(info.path), Path(info.path))
        with self.sessions() as session:
            store_checkpoints.record_checkpoint(
                session,
                self.lease,
                step=info.step,
                epoch=info.epoch,
                path=self._relative(info.path),
                sha256=info.sha256,
                size_bytes=info.size_bytes,
                metrics=_finite(info.metrics),
                is_best=info.is_best,
            )
            known = [c.path for c in store_checkpoints.list_checkpoints(session, self.lease.job_id)]
            gone = [path for path in known if path not in kept]
            if gone:
                store_checkpoints.forget_checkpoints(session, self.lease, gone)
        if self.artifacts is not None:
            for path in gone:
                self.artifacts.delete(path)

    def log(self, message: str, level: str = "info") -> None:
        job_log.log(_LEVELS.get(level, logging.INFO), message)
        with self._lock:
            self._logs.append((time.time(), level, message))
        self._maybe_flush()

    def resumed(self, step: int) -> None:
        """A (re)started attempt continues from `step`: later points of earlier attempts go."""
        with self.sessions() as session:
            store_metrics.drop_metrics_after(session, self.lease, step)

    def should_stop(self) -> bool:
        """True once a cancel was requested or the worker is draining (SIGTERM, or the
        supervising process is gone). A lost lease raises LeaseLost instead: the loop must stop
        without writing anything more, not even a checkpoint."""
        if self._lost is not None:
            raise self._lost
        if os.getppid() != self._parent:
            self.draining = True
        if time.monotonic() - self._last_flush > self.heartbeat_s:
            self.flush()
        return self.cancel_requested or self.draining

    # -- writing ----------------------------------------------------------------------------
    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= FLUSH_S:
            self.flush()

    def flush(self, phase: str | None = None) -> None:
        """Write buffered points and logs and heartbeat, all fenced by the lease token."""
        with self._lock:
            points, self._points = self._points, []
            logs, self._logs = self._logs, []
        self._last_flush = time.monotonic()
        unwritten_points, unwritten_logs = points, logs
        try:
            with self.sessions() as session:
                if points:
                    store_metrics.append_metrics(session, self.lease, [(s, e, n, _finite_value(v), t) for s, e, n, v, t in points])
                unwritten_points = []
                if logs:
                    store_logs.append_logs(session, self.lease.job_id, logs, lease=self.lease)
                unwritten_logs = []
                if any(n.startswith("val_") for _, _, n, _, _ in points):
                    # A sweep trial under ASHA is judged at each rung as it gets there; a stop
                    # reads as a cancel on the heartbeat below.
                    store_sweeps.judge_rungs(session, self.lease, [(n, e, v) for _, e, n, v, _ in points])
                self.cancel_requested = store_jobs.heartbeat(
                    session, self.lease, self.ttl_s, progress=_progress_dict(self._progress, self._data), phase=phase
                )
        except LeaseLost as exc:
            self._lost = exc
            raise
        except StoreUnavailable as exc:
            # The database restarts, or cut off this process after a pause: keep what was not
            # written for the next flush (fenced by the lease, so a lost lease still stops us).
            # What was committed stays out of the buffer: a point is never written twice.
            with self._lock:
                self._points = unwritten_points + self._points
                self._logs = unwritten_logs + self._logs
                if len(self._points) > OUTAGE_BUFFER:
                    raise  # a long outage: stop; the job resumes from its checkpoint later
            log.warning("job %s: could not write to the database (%s); will retry", self.lease.job_id, exc)

    def heartbeat(self, phase: str | None = None) -> None:
        self.flush(phase=phase)

    def finished(self, step: int, epoch: float) -> None:
        """The run is over (completed, stopped early or at its time limit): progress reads done."""
        last = self._progress
        self._progress = Progress(
            step=step, total_steps=max(step, 1), epoch=epoch, total_epochs=last.total_epochs if last else int(epoch),
            samples_per_s=last.samples_per_s if last else 0.0, elapsed_s=last.elapsed_s if last else 0.0, eta_s=0.0,
        )
        self.flush(phase="finished")

    # -- keeping the lease during long phases with no steps (loading, k-means) --------------
    def start_keepalive(self) -> None:
        def beat() -> None:
            while not self._stop_keepalive.wait(self.heartbeat_s):
                if time.monotonic() - self._last_flush > self.heartbeat_s:
                    try:
                        self.flush()
                    except LeaseLost:
                        return
                    except Exception:  # a database hiccup: the next beat retries
                        continue

        self._keepalive = threading.Thread(target=beat, name="lease-keepalive", daemon=True)
        self._keepalive.start()

    def stop_keepalive(self) -> None:
        self._stop_keepalive.set()
        if self._keepalive is not None:
            self._keepalive.join(timeout=5)

    def _relative(self, path: Path) -> str:
        try:
            return str(Path(path).resolve().relative_to(self.artifact_root.resolve()))
        except ValueError:
            return str(path)


def _finite_value(value: float | None) -> float | None:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return float(value)


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {k: _finite_value(v) for k, v in values.items()}


def _progress_dict(progress: Progress | None, data: DataProgress | None = None) -> dict[str, object] | None:
    if progress is None and data is None:
        return None
    training = {} if progress is None else _training_dict(progress)
    return training | ({"data": asdict(data)} if data is not None else {})


def _training_dict(progress: Progress) -> dict[str, object]:
    return {
        "step": progress.step,
        "total_steps": progress.total_steps,
        "epoch": round(progress.epoch, 4),
        "total_epochs": progress.total_epochs,
        "fraction": round(progress.fraction, 4),
        "samples_per_s": round(progress.samples_per_s, 1),
        "eta_s": round(progress.eta_s, 1) if progress.eta_s is not None else None,
        "elapsed_s": round(progress.elapsed_s, 3),  # a small job trains in 0.02 s: keep it above 0
    }
