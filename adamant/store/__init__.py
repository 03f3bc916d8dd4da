"""The store: the database is the truth about jobs. Torch-free and FastAPI-free; the service and
the worker both import it, and neither keeps job state anywhere else.

    engine = make_engine(url)             # sqlite:///path (default) or postgresql://…
    upgrade(engine)                       # alembic upgrade head; every process may call it
    Session = make_session_factory(engine)
    with Session() as session:
        job, created = submit_job(session, tenant.id, spec.model_dump())

Each public write is one transaction that commits itself; reads return ORM rows that stay
usable after later commits. Errors are adamant.store.exceptions (StoreError and subclasses).
"""

from adamant.store.checkpoints import (
    best_checkpoint,
    forget_checkpoints,
    get_checkpoint,
    latest_checkpoint,
    list_checkpoints,
    record_checkpoint,
)
from adamant.store.datasets import (
    create_dataset,
    dataset_path,
    delete_dataset,
    get_dataset,
    list_datasets,
    new_dataset_id,
)
from adamant.store.db import database_time, db_now, make_engine, make_session_factory, normalize_url
from adamant.store.exceptions import (
    AlreadyExists,
    IdempotencyConflict,
    InvalidCursor,
    InvalidTransition,
    LeaseLost,
    LimitExceeded,
    NotFound,
    StoreError,
    StoreUnavailable,
)
from adamant.store.jobs import (
    Lease,
    claim_job,
    fail_before_start,
    finish_job,
    get_job,
    get_job_any_tenant,
    heartbeat,
    job_events,
    jobs_to_dispatch,
    list_jobs,
    mark_dispatched,
    reap_expired_leases,
    request_cancel,
    requeue_or_fail,
    resume_job,
    submit_job,
)
from adamant.store.logs import append_logs, next_logs
from adamant.store.metrics import append_metrics, downsample_metrics, drop_metrics_after, metric_names, next_metrics
from adamant.store.models import ApiKey, Checkpoint, Dataset, Job, JobEvent, LogLine, MetricPoint, Tenant
from adamant.store.states import ACTIVE, LEASED, TERMINAL, TRANSITIONS, JobStatus
from adamant.store.tenants import (
    authenticate,
    create_api_key,
    create_tenant,
    ensure_tenant_with_key,
    get_tenant,
    list_api_keys,
    revoke_api_key,
    tenant_by_name,
)

# Alembic (and Mako under it) costs ~0.5 s of imports: only processes that migrate pay for it,
# not every trainer and scoring process that imports the store.
_MIGRATE = {"current_revision", "head_revision", "is_current", "upgrade"}


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    if name in _MIGRATE:
        from adamant.store import migrate

        return getattr(migrate, name)
    raise AttributeError(f"module 'adamant.store' has no attribute {name!r}")


__all__ = [
    "ACTIVE",
    "LEASED",
    "TERMINAL",
    "TRANSITIONS",
    "AlreadyExists",
    "ApiKey",
    "Checkpoint",
    "Dataset",
    "IdempotencyConflict",
    "InvalidCursor",
    "InvalidTransition",
    "Job",
    "JobEvent",
    "JobStatus",
    "Lease",
    "LeaseLost",
    "LimitExceeded",
    "LogLine",
    "MetricPoint",
    "NotFound",
    "StoreError",
    "StoreUnavailable",
    "Tenant",
    "append_logs",
    "append_metrics",
    "authenticate",
    "best_checkpoint",
    "claim_job",
    "create_api_key",
    "create_dataset",
    "create_tenant",
    "current_revision",
    "database_time",
    "dataset_path",
    "db_now",
    "delete_dataset",
    "downsample_metrics",
    "drop_metrics_after",
    "ensure_tenant_with_key",
    "fail_before_start",
    "finish_job",
    "forget_checkpoints",
    "get_checkpoint",
    "get_dataset",
    "get_job",
    "get_job_any_tenant",
    "get_tenant",
    "head_revision",
    "heartbeat",
    "is_current",
    "job_events",
    "jobs_to_dispatch",
    "latest_checkpoint",
    "list_api_keys",
    "list_checkpoints",
    "list_datasets",
    "list_jobs",
    "make_engine",
    "make_session_factory",
    "mark_dispatched",
    "metric_names",
    "new_dataset_id",
    "next_logs",
    "next_metrics",
    "normalize_url",
    "reap_expired_leases",
    "record_checkpoint",
    "request_cancel",
    "requeue_or_fail",
    "resume_job",
    "revoke_api_key",
    "submit_job",
    "tenant_by_name",
    "upgrade",
]
