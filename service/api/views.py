"""Store rows as API bodies: one function per resource, links included."""

from __future__ import annotations

from typing import Any

from adamant.store.models import Checkpoint, Dataset, Job, JobEvent, LogLine, MetricPoint
from service.api.schemas import (
    CheckpointOut,
    DataProgressOut,
    DatasetOut,
    ErrorOut,
    EventOut,
    JobOut,
    LogLineOut,
    MetricPointOut,
    ProgressOut,
    iso,
)


def job_links(job_id: str) -> dict[str, str]:
    base = f"/v1/jobs/{job_id}"
    return {
        "self": base,
        "metrics": f"{base}/metrics",
        "events": f"{base}/events",
        "logs": f"{base}/logs",
        "checkpoints": f"{base}/checkpoints",
        "predict": f"{base}/predict",
        "cancel": f"{base}/cancel",
        "resume": f"{base}/resume",
    }


def progress_view(progress: dict[str, Any] | None) -> ProgressOut:
    data = dict(progress or {})
    if data.get("samples_per_s") and data.get("total_steps") and data.get("step"):
        elapsed = data.get("elapsed_s")
        if elapsed:
            data["steps_per_s"] = round(data["step"] / elapsed, 2) if elapsed > 0 else None
    if isinstance(data.get("data"), dict):
        data["data"] = {k: v for k, v in data["data"].items() if k in DataProgressOut.model_fields}
    return ProgressOut(**{k: v for k, v in data.items() if k in ProgressOut.model_fields})


def job_view(job: Job, history: list[JobEvent] | None = None) -> JobOut:
    error = ErrorOut(**{k: v for k, v in job.error.items() if k in ErrorOut.model_fields}) if job.error else None
    return JobOut(
        id=job.id,
        name=job.name,
        kind=job.kind,
        task=str(job.spec.get("task", "")),
        status=str(job.status),
        phase=job.phase,
        queue=job.queue,
        priority=job.priority,
        attempt=job.attempt,
        max_restarts=job.max_restarts,
        device=job.device,
        worker=job.lease_owner,
        progress=progress_view(job.progress),
        best_metrics=dict(job.best_metrics or {}),
        last_metrics=dict(job.last_metrics or {}),
        result=job.result,
        error=error,
        cancel_requested=bool(job.cancel_requested),
        created_at=iso(job.created_at),
        queued_at=iso(job.queued_at),
        started_at=iso(job.started_at),
        finished_at=iso(job.finished_at),
        updated_at=iso(job.updated_at),
        parent_id=job.parent_id,
        history=[event_view(e) for e in history or []],
        spec=job.spec,
        links=job_links(job.id),
    )


def creation_event(job: Job) -> JobEvent:
    """The one event a job just submitted has (what job_events would read back)."""
    return JobEvent(job_id=job.id, seq=1, from_status=None, to_status=job.status, at=job.created_at, reason="submitted", attempt=0)


def event_view(event: JobEvent) -> EventOut:
    return EventOut(
        seq=event.seq,
        from_status=str(event.from_status) if event.from_status else None,
        to_status=str(event.to_status),
        at=iso(event.at),
        reason=event.reason,
        attempt=event.attempt,
    )


def metric_view(point: MetricPoint | Any) -> MetricPointOut:
    return MetricPointOut(seq=point.seq, step=point.step, epoch=point.epoch, name=point.name, value=point.value, time=point.time)


def log_view(line: LogLine) -> LogLineOut:
    return LogLineOut(seq=line.seq, time=line.time, level=line.level, message=line.message)


def checkpoint_view(job_id: str, checkpoint: Checkpoint, files: dict[str, Any] | None = None) -> CheckpointOut:
    return CheckpointOut(
        id=checkpoint.id,
        step=checkpoint.step,
        epoch=checkpoint.epoch,
        sha256=checkpoint.sha256,
        size_bytes=checkpoint.size_bytes,
        metrics=dict(checkpoint.metrics or {}),
        is_best=bool(checkpoint.is_best),
        created_at=iso(checkpoint.created_at),
        files=files or {},
        download=f"/v1/jobs/{job_id}/checkpoints/{checkpoint.id}/download",
    )


def dataset_view(dataset: Dataset, *, with_schema: bool = False) -> DatasetOut:
    return DatasetOut(
        id=dataset.id,
        name=dataset.name,
        ref=f"dataset:{dataset.id}",
        format=dataset.format,
        size_bytes=dataset.size_bytes,
        sha256=dataset.sha256,
        rows=dataset.rows,
        created_at=iso(dataset.created_at),
        schema=dataset.columns if with_schema else None,
    )
