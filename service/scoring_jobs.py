"""Scoring jobs: check the model and the table, store the scoring job, publish it; find its files.

A scoring job (kind "score") is the child (parent_id) of the training job whose model it
uses, and goes through the same queue, lease and outbox as training: a worker runs it in a
supervised, torch-free process (worker/scoring_job.py). The checkpoint is resolved here, once,
and stored in the job's spec, so every attempt scores with the same weights.

Refused up front: a model that is not a succeeded training job with a live checkpoint (409),
a table reference that does not resolve (422 naming dataset.ref); for uploads, whose
schema the service already holds, a table without the model's input columns or the
requested id column (422 naming the field); and a tenant already at its artifact quota (409).
The worker checks everything again on the data, and fails the job when its output would take
the tenant past the quota.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from celery import Celery
from sqlalchemy.orm import Session

from adamant.artifacts import ArtifactStoreError, local_copy
from adamant.checkpoint_files import read_manifest
from adamant.exceptions import (
    CheckpointError,
    ModelNotReady,
    NotAModel,
    NotAScoringJob,
    ScoringNotFinished,
    ScoringOutputGone,
    SpecError,
)
from adamant.preparation.preprocessing import Preprocessing
from adamant.queue import publish_job
from adamant.scoring.job_spec import ScoringJobSpec, ScoringRequest
from adamant.settings import Settings
from adamant.store import checkpoints as store_checkpoints
from adamant.store import datasets as store_datasets
from adamant.store import jobs as store_jobs
from adamant.store import usage as store_usage
from adamant.store.exceptions import NotFound
from adamant.store.models import Checkpoint, Job
from adamant.store.states import JobStatus
from service.caller import Caller
from service.submission import check_dataset_ref, check_ref

SCORING_QUEUE = "cpu"  # the numpy scorer needs no GPU
MEDIA_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def submit_scoring_job(
    session: Session,
    celery: Celery,
    settings: Settings,
    caller: Caller,
    model_job_id: str,
    request: ScoringRequest,
    *,
    idempotency_key: str | None,
) -> tuple[Job, bool]:
    """Queue a scoring job of `model_job_id`'s model over the requested table; returns (job, created)."""
    tenant_id = caller.tenant_id
    model_job = store_jobs.get_job(session, tenant_id, model_job_id)
    if model_job.kind != "train":
        raise NotAModel(f"job {model_job_id} is a {model_job.kind} job; score with a training job")
    if model_job.status != JobStatus.SUCCEEDED:
        raise ModelNotReady(f"job {model_job_id} is {model_job.status}; batch scoring needs a training job that succeeded")
    checkpoint = resolve_checkpoint(session, model_job_id, request.checkpoint)
    check_dataset_ref(session, settings, tenant_id, request)  # type: ignore[arg-type]  # reads .dataset.ref only
    if request.holdout_of is not None:
        check_holdout(session, tenant_id, request)
    if request.items is not None:
        if model_job.spec["task"] != "recommendation":
            raise SpecError(f"job {model_job_id} is a {model_job.spec['task']} model; an item table joins "
                            "recommended items", path="items")
        check_ref(session, settings, tenant_id, request.items.ref, "items.ref")
    check_upload_columns(session, settings, tenant_id, request, checkpoint)
    store_usage.check_room(session, settings, tenant_id, "a scoring job's output")  # 409 at the artifact quota
    spec = ScoringJobSpec(
        **request.model_dump(exclude={"checkpoint"}),
        checkpoint=checkpoint.id,
        checkpoint_step=checkpoint.step,
        task=model_job.spec["task"],
        model_job_id=model_job_id,
    )
    job, created = store_jobs.submit_job(
        session,
        tenant_id,
        spec.model_dump(mode="json"),
        name=request.name or f"score {model_job.name or model_job_id}",
        queue=SCORING_QUEUE,
        priority=model_job.priority,
        max_restarts=request.max_restarts,
        idempotency_key=idempotency_key,
        request_hash=request_hash(model_job_id, request),
        parent_id=model_job_id,
        kind="score",
        dispatched=True,
    )
    if created:
        try:
            publish_job(celery, job.id, job.queue, job.priority)  # the one task runs every kind of job
        except Exception:  # broker down: the job is stored; the next outbox sweep publishes it
            store_jobs.mark_undispatched(session, job.id)
    return job, created


def check_holdout(session: Session, tenant_id: str, request: ScoringRequest) -> None:
    """holdout_of names a succeeded training job of the tenant that split this very table."""
    try:
        holdout = store_jobs.get_job(session, tenant_id, str(request.holdout_of))
    except NotFound as exc:
        raise SpecError(f"no job {request.holdout_of!r}", path="holdout_of") from exc
    if holdout.kind != "train" or holdout.status != JobStatus.SUCCEEDED:
        raise SpecError(f"job {holdout.id} is a {holdout.kind} job that is {holdout.status}; holdout_of names a "
                        "succeeded training job", path="holdout_of")
    trained_on = holdout.spec["dataset"]["ref"]
    if trained_on != request.dataset.ref:
        raise SpecError(f"job {holdout.id} trained on {trained_on}, not {request.dataset.ref}: its validation rows "
                        "index that table", path="holdout_of")


def request_hash(model_job_id: str, request: ScoringRequest) -> str:
    document = {"model_job_id": model_job_id, **request.model_dump(mode="json")}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def resolve_checkpoint(session: Session, model_job_id: str, which: str) -> Checkpoint:
    """`best` (the best checkpoint, else the newest) or one checkpoint id of the job."""
    if which == "best":
        checkpoint = store_checkpoints.best_checkpoint(session, model_job_id) or store_checkpoints.latest_checkpoint(
            session, model_job_id
        )
        if checkpoint is None:
            raise CheckpointError(f"job {model_job_id} has no checkpoint to score with")
        return checkpoint
    try:
        return store_checkpoints.get_checkpoint(session, model_job_id, which)
    except NotFound as exc:
        raise SpecError(f"job {model_job_id} has no live checkpoint {which!r}", path="checkpoint") from exc


def check_upload_columns(
    session: Session, settings: Settings, tenant_id: str, request: ScoringRequest, checkpoint: Checkpoint
) -> None:
    """An uploaded table's stored schema must have the model's inputs and the id column."""
    scheme, _, dataset_id = request.dataset.ref.partition(":")
    if scheme != "dataset":
        return
    schema = store_datasets.get_dataset(session, tenant_id, dataset_id).columns or {}
    present = {str(column.get("name")) for column in schema.get("columns", [])}
    if not present:
        return
    if request.id_column is not None and request.id_column not in present:
        raise SpecError(f"the table {request.dataset.ref} has no column {request.id_column!r}", path="id_column")
    try:
        preprocessing = Preprocessing.from_dict(read_manifest(local_copy(settings, checkpoint.path))["preprocessing"])
    except (CheckpointError, ArtifactStoreError, KeyError, TypeError, ValueError):
        return  # the worker reports what is wrong with the checkpoint
    needed = [feature.column for feature in preprocessing.features]
    if preprocessing.users is not None:
        needed.append(preprocessing.users.column)  # the item column is optional: without it, top-k per user
    absent = [column for column in needed if column not in present]
    if absent:
        raise SpecError(
            f"the table lacks the column(s) the model was trained on: {', '.join(absent)}", path="dataset.ref"
        )


def scoring_job_file(session: Session, settings: Settings, tenant_id: str, job_id: str, which: str) -> tuple[Job, Path]:
    """The finished scoring job and its `output` or `report` file (404 / 409 otherwise)."""
    job = store_jobs.get_job(session, tenant_id, job_id)
    if job.kind != "score":
        raise NotAScoringJob(f"job {job_id} is a {job.kind} job, not a scoring job (POST /v1/jobs/{{id}}/predictions starts one)")
    if job.status != JobStatus.SUCCEEDED or not job.result:
        raise ScoringNotFinished(f"scoring job {job_id} is {job.status}; its files exist once it succeeded")
    try:
        path = local_copy(settings, job.result["files"][which])  # from ADAMANT_ARTIFACTS_URL when a worker host wrote it
    except ArtifactStoreError:
        path = settings.artifact_root / job.result["files"][which]
    if not path.is_file():
        raise ScoringOutputGone(f"the {which} file of scoring job {job_id} is no longer on disk")
    return job, path
