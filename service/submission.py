"""Submitting a job: check what the spec points at, store it, then publish "run job X".

The row is committed before the message is published (a worker that gets the message finds
the job), and the Idempotency-Key makes a retried POST return the job the first one created.
Only what the service can check cheaply happens here — the dataset reference resolves, the
tenant's limits hold, the model fits the deployment's size limits as far as the dataset's schema
tells (a lower bound); the columns and the exact size are checked by the dry run and again by
the worker.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from celery import Celery
from sqlalchemy.orm import Session

from adamant.datasets import get_builtin, resolve_file
from adamant.datasets.resolve import is_object_reference, resolve_object
from adamant.datasets.schema import describe_table
from adamant.exceptions import DatasetError, SpecError
from adamant.model_size import DataShape, SizeEstimate, check_model_size, shape_from_schema
from adamant.queue import publish_job, queue_for
from adamant.settings import Settings
from adamant.spec import JobSpec
from adamant.store import datasets as store_datasets
from adamant.store import jobs as store_jobs
from adamant.store import tenants as store_tenants
from adamant.store.exceptions import NotFound
from adamant.store.models import Job
from service.caller import Caller
from service.retention import enforce_artifact_quota


def request_hash(spec: JobSpec) -> str:
    return hashlib.sha256(json.dumps(spec.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def check_dataset_ref(session: Session, settings: Settings, tenant_id: str, spec: JobSpec) -> Path | None:
    """Refuse a reference that cannot resolve for this tenant (422 naming dataset.ref). An
    object-store URI is checked against the tenant's prefixes only: the data is not read here."""
    return check_ref(session, settings, tenant_id, spec.dataset.ref, "dataset.ref")


def check_ref(session: Session, settings: Settings, tenant_id: str, ref: str, path: str) -> Path | None:
    """check_dataset_ref for any table reference of a request, the 422 naming `path`."""
    scheme, _, rest = ref.partition(":")
    try:
        if scheme == "builtin":
            get_builtin(rest)
            return None
        if scheme == "dataset":
            return settings.artifact_root / store_datasets.dataset_path(session, tenant_id, rest)
        if scheme == "file":
            return resolve_file(rest, settings.file_roots)
        if is_object_reference(ref):
            resolve_object(ref, store_tenants.get_tenant(session, tenant_id).dataset_prefixes)
            return None
    except NotFound as exc:
        raise SpecError(f"no dataset {rest!r} (upload one with POST /v1/datasets)", path=path) from exc
    except DatasetError as exc:
        raise SpecError(exc.reason, path=path) from exc
    raise SpecError(
        f"unsupported reference {ref!r}: use builtin:<name>, dataset:<id>, file:<path> or an s3://, gs://, az:// URI",
        path=path,
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


@functools.cache
def _builtin_columns(name: str) -> list[dict[str, Any]]:
    """A built-in table's schema, described once per process (it never changes)."""
    return list(describe_table(get_builtin(name).load(), rows=0)["columns"])


def schema_columns(session: Session, tenant_id: str, spec: JobSpec) -> list[dict[str, Any]] | None:
    """The referenced table's column schema as far as it is known without reading it: a built-in's,
    or an upload's as described when it arrived; None for a file: reference."""
    scheme, _, rest = spec.dataset.ref.partition(":")
    if scheme == "builtin":
        return _builtin_columns(rest)
    if scheme == "dataset":
        described = store_datasets.get_dataset(session, tenant_id, rest).columns
        if isinstance(described, dict) and isinstance(described.get("columns"), list):
            return described["columns"]
    return None


def check_model_size_at_submit(session: Session, settings: Settings, tenant_id: str, spec: JobSpec) -> SizeEstimate:
    """Refuse a model past ADAMANT_MAX_MODEL_PARAMETERS / _MAX_TRAINING_MEMORY_BYTES (422 naming the
    fields to change), sized from the schema: a lower bound, so nothing that fits is refused here."""
    columns = schema_columns(session, tenant_id, spec)
    shape = shape_from_schema(spec, columns) if columns is not None else DataShape()
    return check_model_size(
        spec, shape, max_parameters=settings.max_model_parameters, max_memory_bytes=settings.max_training_memory_bytes
    )


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
    check_model_size_at_submit(session, settings, tenant_id, spec)
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
            publish_job(celery, job.id, job.queue, job.priority)
        except Exception:  # broker down: the job is stored; the next outbox sweep publishes it
            store_jobs.mark_undispatched(session, job.id)
    return job, created
