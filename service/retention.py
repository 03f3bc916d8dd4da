"""Per-tenant artifact quota: reclaim finished jobs' old checkpoints, then refuse new work.

A tenant's quota is its `max_artifact_bytes`, or ADAMANT_ARTIFACT_QUOTA_BYTES when that is
NULL (none: unlimited); it counts the bytes of the tenant's live checkpoints, uploaded datasets
and scoring outputs (adamant/store/usage.py; uploads and scoring check it themselves). It is checked
when a job is submitted — nobody knows yet how much the new job will write, and a running job
is never stopped for it:

1. under quota: nothing happens;
2. at or over it: the checkpoints of its finished jobs that nothing needs go first, oldest
   first — every one but each job's best, and for a failed or cancelled job also its newest
   (a resume continues from it). Files are deleted before their rows (a crash in between
   leaves a row whose download says "pruned", never files nobody can see);
3. still at or over it: the submit is refused (ArtifactQuotaExceeded: 409 `artifact-quota-exceeded`), naming the
   quota and the usage; deleting jobs' artifacts or raising the quota lets it through.
"""

from __future__ import annotations

import logging
import shutil

from sqlalchemy.orm import Session

from adamant.artifacts import ArtifactStore, LocalArtifacts, artifact_store
from adamant.exceptions import ArtifactQuotaExceeded
from adamant.settings import Settings
from adamant.store import checkpoints as store_checkpoints
from adamant.store import tenants as store_tenants
from adamant.store import usage as store_usage

log = logging.getLogger("adamant.retention")


def reclaim_checkpoints(session: Session, settings: Settings, store: ArtifactStore, tenant_id: str, quota: int) -> int:
    """Delete finished jobs' reclaimable checkpoints until usage is under `quota`; returns bytes freed."""
    usage = store_checkpoints.tenant_checkpoint_bytes(session, tenant_id)
    freed = 0
    for checkpoint in store_checkpoints.reclaimable_checkpoints(session, tenant_id):
        if usage - freed < quota:
            break
        store.delete(checkpoint.path)
        if not isinstance(store, LocalArtifacts):  # the worker's local copy, where this process sees it
            shutil.rmtree(settings.artifact_root / checkpoint.path, ignore_errors=True)
        if store_checkpoints.discard_checkpoints(session, [checkpoint.id]):
            freed += checkpoint.size_bytes
            log.info("reclaimed checkpoint %s (%d bytes) for the artifact quota", checkpoint.path, checkpoint.size_bytes,
                     extra={"job_id": checkpoint.job_id, "tenant_id": tenant_id})
    return freed


def enforce_artifact_quota(session: Session, settings: Settings, tenant_id: str, store: ArtifactStore | None = None) -> None:
    """Make room under the tenant's quota or refuse with ArtifactQuotaExceeded (a 409), which names it."""
    tenant = store_tenants.get_tenant(session, tenant_id)
    quota = store_tenants.artifact_quota(tenant, settings.artifact_quota_bytes)
    if quota is None:
        return
    stored = store_usage.tenant_usage(session, tenant_id)  # uploads and scoring outputs count too
    usage = stored.total_bytes
    if usage < quota:
        return
    elsewhere = stored.dataset_bytes + stored.scoring_bytes
    usage -= reclaim_checkpoints(session, settings, store or artifact_store(settings), tenant_id, quota - elsewhere)
    if usage >= quota:
        raise ArtifactQuotaExceeded(
            f"this tenant keeps {usage} bytes ({usage - elsewhere} of checkpoints, {stored.dataset_bytes} of uploads, "
            f"{stored.scoring_bytes} of scoring outputs) and its artifact quota (max_artifact_bytes) is "
            f"{quota}; only each job's best and resumable checkpoints are left. Delete datasets or jobs' artifacts or ask "
            "for a larger quota before submitting more jobs.",
            usage=usage, quota=quota,
        )
