"""The scoring process: `python -m worker.scoring_job JOB_ID LEASE_TOKEN`.

A scoring job (kind "score", the child of a succeeded training job) runs the way a
training job does — claimed under a lease by worker/supervisor.py, in a process of its own
that the supervisor watches, inside the same leased-child frame (worker/leased_child.py: every
write fenced by the lease token, the same exit codes, a crash requeued until max_restarts) —
but without torch: the numpy scorer (adamant/scoring) scores the table with the checkpoint the
service resolved at submission.

What it writes, under jobs/<id>/attempt-<n>/: the scores (predictions.csv or .parquet, one
row per input row in input order, or the top-k rows per user of a recommender) and
report.json (evaluation on labelled rows, the drift report against the training job's
reference profile). Each attempt writes its own folder and the fenced result names it, so an
attempt that lost its lease and is still writing never touches the files the job points at.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from adamant.artifacts import ArtifactStoreError, local_copy, publish
from adamant.datasets import load_dataset
from adamant.exceptions import CheckpointError
from adamant.monitoring.holdout import HOLDOUT_FILE, holdout_rows
from adamant.monitoring.reference import REFERENCE_FILE, read_reference
from adamant.scoring import load_scorer
from adamant.scoring.job_spec import ScoringJobSpec
from adamant.scoring.table import score_table
from adamant.settings import Settings, get_settings
from adamant.spec import load_stored_spec
from adamant.store import checkpoints as store_checkpoints
from adamant.store import jobs as store_jobs
from adamant.store import usage as store_usage
from adamant.store.exceptions import NotFound, StoreUnavailable
from adamant.store.models import json_safe, relative_path
from adamant.store.usage import QuotaExceeded
from worker.db_reporter import DatabaseReporter
from worker.engine.reporting import Progress
from worker.leased_child import EXIT_RECORDED, LeasedJob, exit_process, run_leased
from worker.trainer_process import dataset_prefixes, run_dir_for

log = logging.getLogger("adamant.scoring")
REPORT_FILE = "report.json"


class ScoringStopped(Exception):
    """The job is being cancelled, or the worker is shutting down: stop between chunks."""


def attempt_dir(settings: Settings, job_id: str, attempt: int) -> Path:
    return settings.job_dir(job_id) / f"attempt-{attempt}"


def score_leased_job(settings: Settings, job_id: str, token: int) -> int:
    return run_leased(settings, job_id, token, score, out_dir=lambda lease: attempt_dir(settings, job_id, lease.attempt))


def score(job: LeasedJob) -> int:
    """Score the table into this attempt's folder and record how it ended."""
    settings, sessions, lease, reporter = job.settings, job.sessions, job.lease, job.reporter
    out_dir = reporter.run_dir
    spec = load_stored_spec(job.stored_spec, ScoringJobSpec)  # StoredSpecInvalid: a user error, failed once
    with sessions() as session:
        try:
            checkpoint = store_checkpoints.get_checkpoint(session, spec.model_job_id, spec.checkpoint)
        except NotFound as exc:
            raise CheckpointError(
                f"checkpoint {spec.checkpoint} of job {spec.model_job_id} is gone; submit the scoring job again"
            ) from exc
    scorer = load_scorer(local_copy(settings, checkpoint.path))  # fetched when another host wrote it
    frame = load_dataset(spec.dataset.as_dataset_spec(), file_roots=settings.file_roots, uploads=job.uploads,
                         object_prefixes=dataset_prefixes(job, spec.dataset.ref))
    item_metadata = None
    if spec.items is not None:
        item_metadata = load_dataset(spec.items.as_dataset_spec(), file_roots=settings.file_roots, uploads=job.uploads,
                                     object_prefixes=dataset_prefixes(job, spec.items.ref))
    if spec.holdout_of is not None:
        frame = holdout_rows(_run_dir_with(settings, spec.holdout_of, HOLDOUT_FILE), frame, spec.holdout_of)
    profile = read_reference(_run_dir_with(settings, spec.model_job_id, REFERENCE_FILE))
    reporter.log(
        f"scoring {len(frame)} rows of {spec.dataset.ref} with checkpoint step {checkpoint.step} of "
        f"{spec.model_job_id}; " + ("drift against its reference profile" if profile else "no reference profile: no drift report")
    )
    reporter.heartbeat(phase="scoring")
    try:
        summary = score_table(
            scorer, frame, out_dir / f"predictions.{spec.format}", fmt=spec.format, top_k=spec.top_k,
            profile=profile, id_column=spec.id_column, on_chunk=_progress_reporter(reporter, len(frame)),
            item_metadata=item_metadata,
        )
    except ScoringStopped:
        if not reporter.cancel_requested:
            return job.requeue("the worker shut down; scoring starts over on another")
        reporter.flush(phase="cancelled")
        with sessions() as session:
            store_jobs.finish_job(session, lease, "cancelled")
        return EXIT_RECORDED
    report = build_report(lease.job_id, spec, checkpoint.id, summary, has_profile=profile is not None)
    report_path = _write_json(out_dir / REPORT_FILE, report)
    result = build_result(settings, lease.job_id, summary, report_path)
    _check_quota(sessions, settings, job.tenant_id, out_dir, result["stored_bytes"])
    _mirror_outputs(settings, [Path(summary["path"]), report_path])
    reporter.flush(phase="finished")
    with sessions() as session:
        store_jobs.finish_job(session, lease, "succeeded", best_metrics=headline_metrics(summary), result=result)
    return EXIT_RECORDED


def _progress_reporter(reporter: DatabaseReporter, total: int):  # type: ignore[no-untyped-def]
    started = time.monotonic()

    def on_chunk(done: int) -> None:
        elapsed = max(time.monotonic() - started, 1e-9)
        rate = done / elapsed
        reporter.progress(Progress(
            step=done, total_steps=max(total, 1), epoch=done / max(total, 1), total_epochs=1,
            samples_per_s=rate, elapsed_s=elapsed, eta_s=(total - done) / rate if rate > 0 else None, phase="scoring",
        ))
        if reporter.should_stop():  # raises LeaseLost once another attempt owns the job
            raise ScoringStopped()

    return on_chunk


def build_report(
    job_id: str, spec: ScoringJobSpec, checkpoint_id: str, summary: dict[str, Any], *, has_profile: bool
) -> dict[str, Any]:
    """report.json: what GET /v1/jobs/{id}/report answers."""
    return json_safe({
        "job_id": job_id,
        "model_job_id": spec.model_job_id,
        "task": spec.task,
        "checkpoint": {"id": checkpoint_id, "step": spec.checkpoint_step},
        "dataset": {"ref": spec.dataset.ref, "rows": summary["rows_scored"], "holdout_of": spec.holdout_of},
        "output": {
            "file": f"/v1/jobs/{job_id}/predictions/file",
            "format": summary["format"],
            "rows": summary["output_rows"],
            "columns": summary["columns"],
            "sha256": summary["sha256"],
            "bytes": summary["bytes"],
        },
        "timing": {"seconds": summary["seconds"], "rows_per_s": summary["rows_per_s"]},
        "evaluation": summary["evaluation"],
        "segments": summary["segments"],
        "drift": summary["drift"],
        "drift_unavailable": None if has_profile else "the training job has no reference profile (trained before drift monitoring, or it could not be made)",
    })


def build_result(settings: Settings, job_id: str, summary: dict[str, Any], report_path: Path) -> dict[str, Any]:
    """The job's result: the output's description, headline numbers and where the rest is."""
    evaluation = summary["evaluation"]
    drift = summary["drift"]
    return json_safe({
        "rows_scored": summary["rows_scored"],
        "output_rows": summary["output_rows"],
        "format": summary["format"],
        "columns": summary["columns"],
        "sha256": summary["sha256"],
        "bytes": summary["bytes"],
        "stored_bytes": summary["bytes"] + report_path.stat().st_size,  # counted against the artifact quota
        "seconds": summary["seconds"],
        "rows_per_s": summary["rows_per_s"],
        "files": {
            "output": relative_path(Path(summary["path"]).relative_to(settings.artifact_root)),
            "report": relative_path(report_path.relative_to(settings.artifact_root)),
        },
        "links": {"file": f"/v1/jobs/{job_id}/predictions/file", "report": f"/v1/jobs/{job_id}/report"},
        "evaluation": _evaluation_headline(evaluation),
        "drift": _drift_headline(drift),
    })


def _run_dir_with(settings: Settings, job_id: str, name: str) -> Path:
    """A training job's run folder, with its file `name` (the reference profile, the validation
    rows) fetched from ADAMANT_ARTIFACTS_URL when another host trained it; absent anywhere, the
    reader says what that means (no drift report; no holdout)."""
    run_dir = run_dir_for(settings, job_id)
    try:
        local_copy(settings, (run_dir / name).relative_to(settings.artifact_root).as_posix())
    except ArtifactStoreError:
        pass
    return run_dir


def _check_quota(sessions: Any, settings: Settings, tenant_id: str, out_dir: Path, stored_bytes: int) -> None:
    """Outputs that would take the tenant past its artifact quota are deleted, and the job fails
    with QuotaExceeded (a user error: delete something or raise the quota, then score again)."""
    try:
        with sessions() as session:
            store_usage.check_bytes(session, settings, tenant_id, stored_bytes, "this scoring job's output")
    except QuotaExceeded:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise


def _mirror_outputs(settings: Settings, paths: list[Path]) -> None:
    """The predictions and the report go to ADAMANT_ARTIFACTS_URL, where the API reads them."""
    try:
        for path in paths:
            publish(settings, path)
    except Exception as exc:  # the store's outage: an infrastructure failure, retried elsewhere
        raise StoreUnavailable(f"artifact store unavailable: {exc}") from exc


def headline_metrics(summary: dict[str, Any]) -> dict[str, float | None]:
    """Numbers worth a column in a job list: quality on labelled rows, the largest drift."""
    metrics: dict[str, float | None] = {}
    evaluation = _evaluation_headline(summary["evaluation"]) or {}
    for name in ("auc", "top_decile_lift", "accuracy", "rmse", "mae"):
        if evaluation.get(name) is not None:
            metrics[name] = float(evaluation[name])
    drift = _drift_headline(summary["drift"])
    if drift is not None:
        metrics["max_feature_psi"] = drift["max_feature_psi"]
        if drift["score_psi"] is not None:
            metrics["score_psi"] = drift["score_psi"]
    return metrics


def _evaluation_headline(evaluation: dict[str, Any] | None) -> dict[str, Any] | None:
    if evaluation is None:
        return None
    headline = {k: v for k, v in evaluation.items() if k not in ("gains", "lift")}
    headline.update(evaluation.get("lift") or {})
    return headline


def _drift_headline(drift: dict[str, Any] | None) -> dict[str, Any] | None:
    if drift is None:
        return None
    top = drift["features"][0] if drift["features"] else None
    return {
        "verdict": drift["verdict"],
        "drifted": drift["drifted"],
        "max_feature_psi": top["psi"] if top else None,
        "max_feature": top["column"] if top else None,
        "score_psi": drift["score"]["psi"] if drift["score"] else None,
    }


def _write_json(path: Path, document: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(document, indent=1, allow_nan=False))
    with temporary.open("rb") as file:
        os.fsync(file.fileno())
    os.replace(temporary, path)
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return score_leased_job(get_settings(), args[0], int(args[1]))


if __name__ == "__main__":
    exit_process(main())
