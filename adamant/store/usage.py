"""What a tenant stores, counted against its limits: bytes (checkpoints, uploads, scoring outputs)
and the number of uploaded datasets.

The bytes count against the artifact quota (the tenant's max_artifact_bytes, else
ADAMANT_ARTIFACT_QUOTA_BYTES; none: unlimited), the datasets against max_datasets (else
ADAMANT_DEFAULT_MAX_DATASETS). Both are permanent until the tenant deletes something or an
admin raises the limit, so a refusal is QuotaExceeded (a 409 naming the limit, the usage and
what to delete), never a 429 to retry.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adamant.settings import Settings
from adamant.store import checkpoints as store_checkpoints
from adamant.store.db import translated_errors
from adamant.store.exceptions import StoreError
from adamant.store.models import Dataset, Job, Tenant
from adamant.store.states import JobStatus
from adamant.store.tenants import artifact_quota, get_tenant

DELETE_DATASETS = "delete datasets it no longer needs (DELETE /v1/datasets/{id})"


class QuotaExceeded(StoreError):
    """A tenant's storage is at one of its limits: `limit` names it, `usage` and `cap` say how far."""

    kind = "quota_exceeded"

    def __init__(self, message: str, *, limit: str, usage: int, cap: int) -> None:
        super().__init__(message)
        self.limit, self.usage, self.cap = limit, usage, cap

    def __reduce__(self) -> tuple[object, ...]:
        return _quota_exceeded, (str(self), self.limit, self.usage, self.cap)

    def to_dict(self) -> dict[str, object]:
        # path: the limit to raise, in the field a job's error shows (ErrorOut.path)
        return {"type": self.kind, "message": str(self), "path": self.limit, "limit": self.limit, "usage": self.usage,
                "cap": self.cap}


def _quota_exceeded(message: str, limit: str, usage: int, cap: int) -> QuotaExceeded:
    return QuotaExceeded(message, limit=limit, usage=usage, cap=cap)


@dataclass(frozen=True)
class StorageUsage:
    checkpoint_bytes: int
    dataset_bytes: int
    scoring_bytes: int
    datasets: int

    @property
    def total_bytes(self) -> int:
        return self.checkpoint_bytes + self.dataset_bytes + self.scoring_bytes

    def describe(self) -> str:
        return (f"{self.total_bytes:,} bytes ({self.checkpoint_bytes:,} of checkpoints, {self.dataset_bytes:,} of "
                f"{self.datasets} uploaded datasets, {self.scoring_bytes:,} of scoring outputs)")


def tenant_usage(session: Session, tenant_id: str) -> StorageUsage:
    """The tenant's live checkpoints, undeleted uploads and succeeded scoring jobs' outputs."""
    datasets = select(func.count(Dataset.id), func.coalesce(func.sum(Dataset.size_bytes), 0)).where(
        Dataset.tenant_id == tenant_id, Dataset.deleted_at.is_(None)
    )
    # stored_bytes: the predictions and the report; older results recorded the predictions only.
    stored = func.coalesce(Job.result["stored_bytes"].as_integer(), Job.result["bytes"].as_integer(), 0)
    scoring = select(func.coalesce(func.sum(stored), 0)).where(
        Job.tenant_id == tenant_id, Job.kind == "score", Job.status == JobStatus.SUCCEEDED
    )
    with translated_errors():
        count, dataset_bytes = session.execute(datasets).one()
        scoring_bytes = session.execute(scoring).scalar_one()
    return StorageUsage(
        checkpoint_bytes=store_checkpoints.tenant_checkpoint_bytes(session, tenant_id),
        dataset_bytes=int(dataset_bytes),
        scoring_bytes=int(scoring_bytes),
        datasets=int(count),
    )


def dataset_limit(tenant: Tenant, default: int) -> int:
    """How many uploaded datasets this tenant may keep."""
    return tenant.max_datasets if tenant.max_datasets is not None else default


def check_bytes(session: Session, settings: Settings, tenant_id: str, adding: int, what: str) -> StorageUsage:
    """Refuse `adding` more bytes (of `what`) when they would take the tenant past its artifact quota."""
    tenant = get_tenant(session, tenant_id)
    usage = tenant_usage(session, tenant_id)
    quota = artifact_quota(tenant, settings.artifact_quota_bytes)
    if quota is not None and usage.total_bytes + adding > quota:
        raise quota_exceeded(usage, quota, adding, what)
    return usage


def check_room(session: Session, settings: Settings, tenant_id: str, what: str) -> StorageUsage:
    """Refuse new work that will store bytes (`what`) when the tenant is already at its quota."""
    tenant = get_tenant(session, tenant_id)
    usage = tenant_usage(session, tenant_id)
    quota = artifact_quota(tenant, settings.artifact_quota_bytes)
    if quota is not None and usage.total_bytes >= quota:
        raise quota_exceeded(usage, quota, 0, what)
    return usage


def quota_exceeded(usage: StorageUsage, quota: int, adding: int, what: str) -> QuotaExceeded:
    adds = f", and {what} adds {adding:,}" if adding else f", with no room for {what}" if what else ""
    return QuotaExceeded(
        f"this tenant stores {usage.describe()}{adds}; its artifact quota (max_artifact_bytes) is {quota:,} bytes. "
        f"To make room, {DELETE_DATASETS}, or ask an admin to raise max_artifact_bytes.",
        limit="max_artifact_bytes", usage=usage.total_bytes, cap=quota,
    )


@dataclass(frozen=True)
class UploadAllowance:
    """An upload the tenant's limits let start; its size is checked once it is known."""

    session: Session
    settings: Settings
    tenant_id: str
    max_datasets: int

    def check_bytes(self, size: int) -> None:
        check_bytes(self.session, self.settings, self.tenant_id, size, "this upload")


def check_new_dataset(session: Session, settings: Settings, tenant_id: str) -> UploadAllowance:
    """Refuse an upload up front when the tenant keeps as many datasets as it may, or is at its quota."""
    tenant = get_tenant(session, tenant_id)
    usage = tenant_usage(session, tenant_id)
    limit = dataset_limit(tenant, settings.default_max_datasets)
    check_dataset_count(usage.datasets, limit)
    quota = artifact_quota(tenant, settings.artifact_quota_bytes)
    if quota is not None and usage.total_bytes >= quota:
        raise quota_exceeded(usage, quota, 0, "another upload")
    return UploadAllowance(session, settings, tenant_id, limit)


def check_dataset_count(datasets: int, limit: int) -> None:
    """QuotaExceeded when a tenant keeping `datasets` may not add one more."""
    if datasets >= limit:
        raise QuotaExceeded(
            f"this tenant keeps {datasets:,} uploaded datasets and may keep {limit:,} (max_datasets); "
            f"{DELETE_DATASETS}, or ask an admin to raise max_datasets.",
            limit="max_datasets", usage=datasets, cap=limit,
        )
