"""Submitting a job: check what the spec points at, store it, then publish "run job X".

The row is committed before the message is published (a worker that gets the message finds
the job), and the Idempotency-Key makes a retried POST return the job the first one created.
Only what the service can check cheaply happens here — the dataset reference resolves, the
tenant's limits hold; the columns are checked by the dry run and again by the worker.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from celery import Celery
from sqlalchemy.orm import Session

from adamant.datasets import get_builtin, resolve_file
from adamant.exceptions import DatasetError, SpecError
from adamant.queue import publish_train, queue_for
from adamant.settings import Settings
from adamant.spec import JobSpec
from adamant.store import datasets as store_datasets
from adamant.store import jobs as store_jobs
from adamant.store.exceptions import NotFound
from adamant.store.models import Job
from service.api.deps import Caller
from service.retention import enforce_artifact_quota


def request_hash(spec: JobSpec) -> str:
    return hashlib.sha256(json.dumps(spec.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def check_dataset_ref(session: Session, settings: Settings, tenant_id: str, spec: JobSpec) -> Path | None:
    """Refuse a reference that cannot resolve for this tenant (422 naming dataset.ref)."""
    ref = spec.dataset.ref
    scheme, _, rest = ref.partition(":")
    try:
        if scheme == "builtin":
            get_builtin(rest)
            return None
        if scheme == "dataset":
            return settings.artifact_root / store_datasets.dataset_path(session, tenant_id, rest)
        if scheme == "file":
            return resolve_file(rest, settings.file_roots)
    except NotFound as exc:
        raise SpecError(f"no dataset {rest!r} (upload one with POST /v1/datasets)", path="dataset.ref") from exc
    except DatasetError as exc:
        raise SpecError(exc.reason, path="dataset.ref") from exc
    raise SpecError(
        f"unsupported reference {ref!r}: use builtin:<name>, dataset:<id> or file:<path>", path="dataset.ref"
    )


def check_limits(session: Session, tenant_id: str, spec: JobSpec, *, max_epochs: int, max_run_time_s: float) -> None:
    """The tenant's caps, as 422s naming the field (the store enforces concurrency as a 429)."""
    if spec.training.epochs > max_epochs:
        raise SpecError(f"at most {max_epochs} epochs for this tenant", path="training.epochs")
    if spec.training.time_limit_s and spec.training.time_limit_s > max_run_time_s:
        raise SpecError(f"at most {max_run_time_s:.0f} s for this tenant", path="training.time_limit_s")
    if spec.init_from:
        try:
            store_jobs.get_job(session, tenant_id, spec.init_from)
        except NotFound as exc:
            raise SpecError(f"no job {spec.init_from!r} to start from", path="init_from") from exc


def submit(
    session: Session,
    celery: Celery,
    settings: Settings,
    caller: Caller,
    spec: JobSpec,
    *,
    idempotency_key: str | None,
    parent_id: str | None = None,
) -> tuple[Job, bool]:
    tenant_id = caller.tenant_id
    check_dataset_ref(session, settings, tenant_id, spec)
    check_limits(session, tenant_id, spec, max_epochs=caller.max_epochs, max_run_time_s=caller.max_run_time_s)
    if caller.max_artifact_bytes is not None or settings.artifact_quota_bytes is not None:
        enforce_artifact_quota(session, settings, tenant_id)  # 409 when over quota after reclaiming
    job, created = store_jobs.submit_job(
        session,
        tenant_id,
        spec.model_dump(mode="json"),
        name=spec.name,
        queue=queue_for(spec.resources.device),
        priority=spec.resources.priority,
        max_restarts=spec.max_restarts,
        idempotency_key=idempotency_key,
        request_hash=request_hash(spec),
        parent_id=parent_id,
        dispatched=True,
    )
    if created:
        try:
            publish_train(celery, job.id, job.queue, job.priority)
        except Exception:  # broker down: the job is stored; the next outbox sweep publishes it
            store_jobs.mark_undispatched(session, job.id)
    return job, created
