"""The checkpoints index: which checkpoint directories a job has, and which one is its best.

The worker writes a checkpoint atomically on disk first, then records it here under its lease;
a resume takes the newest row whose files still hash right. Pruned directories are forgotten
(soft-deleted). Reads take a job id: the service checks the job's tenant first.

Retention: while a job trains, the engine keeps its newest `keep_last` checkpoints and its
best (worker/engine/checkpoints.py prune_checkpoints) and the worker forgets the pruned rows.
Once jobs are finished, a tenant over its artifact quota gets the rest reclaimed
(`reclaimable_checkpoints`, then `discard_checkpoints` once the files are gone: service/retention.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import CursorResult, exists, func, select, update
from sqlalchemy.orm import Session

from adamant.store.db import db_now, translated_errors, write_transaction
from adamant.store.exceptions import NotFound
from adamant.store.jobs import Lease, lock_held_job
from adamant.store.models import Checkpoint, Job, ModelVersion, json_safe, relative_path
from adamant.store.states import TERMINAL, JobStatus


def record_checkpoint(
    session: Session,
    lease: Lease,
    step: int,
    epoch: float,
    path: str | os.PathLike[str],
    sha256: str,
    size_bytes: int,
    metrics: Mapping[str, Any] | None = None,
    is_best: bool = False,
) -> Checkpoint:
    """Record a written checkpoint (path relative to the artifact root); LeaseLost if not held.

    A live row with the same path is replaced (the directory was rewritten); a new best one
    takes the flag from the previous best.
    """
    stored_path = relative_path(path)
    with write_transaction(session):
        lock_held_job(session, lease)
        live = (Checkpoint.job_id == lease.job_id, Checkpoint.deleted_at.is_(None))
        session.execute(
            update(Checkpoint)
            .where(*live, Checkpoint.path == stored_path)
            .values(deleted_at=db_now(), is_best=False)
            .execution_options(synchronize_session=False)
        )
        if is_best:
            session.execute(
                update(Checkpoint)
                .where(*live, Checkpoint.is_best.is_(True))
                .values(is_best=False)
                .execution_options(synchronize_session=False)
            )
        checkpoint = Checkpoint(
            job_id=lease.job_id,
            step=int(step),
            epoch=float(epoch),
            path=stored_path,
            sha256=sha256,
            size_bytes=int(size_bytes),
            metrics=json_safe(dict(metrics or {})),
            is_best=is_best,
        )
        session.add(checkpoint)
        session.flush()
        return checkpoint


def forget_checkpoints(session: Session, lease: Lease, paths: Iterable[str | os.PathLike[str]]) -> int:
    """Mark the job's checkpoints at these paths deleted (pruned from disk); returns how many."""
    stored = [relative_path(path) for path in paths]
    if not stored:
        return 0
    with write_transaction(session):
        lock_held_job(session, lease)
        result = session.execute(
            update(Checkpoint)
            .where(Checkpoint.job_id == lease.job_id, Checkpoint.deleted_at.is_(None), Checkpoint.path.in_(stored))
            .values(deleted_at=db_now(), is_best=False)
            .execution_options(synchronize_session=False)
        )
        return cast(CursorResult[Any], result).rowcount


def list_checkpoints(session: Session, job_id: str) -> list[Checkpoint]:
    """The job's live checkpoints, oldest step first."""
    query = (
        select(Checkpoint)
        .where(Checkpoint.job_id == job_id, Checkpoint.deleted_at.is_(None))
        .order_by(Checkpoint.step, Checkpoint.created_at)
        .execution_options(populate_existing=True)
    )
    with translated_errors():
        return list(session.scalars(query))


def best_checkpoint(session: Session, job_id: str) -> Checkpoint | None:
    query = select(Checkpoint).where(
        Checkpoint.job_id == job_id, Checkpoint.deleted_at.is_(None), Checkpoint.is_best.is_(True)
    )
    with translated_errors():
        return session.scalars(query.execution_options(populate_existing=True)).one_or_none()


def latest_checkpoint(session: Session, job_id: str) -> Checkpoint | None:
    """The live checkpoint with the highest step (where a resume starts looking)."""
    query = (
        select(Checkpoint)
        .where(Checkpoint.job_id == job_id, Checkpoint.deleted_at.is_(None))
        .order_by(Checkpoint.step.desc(), Checkpoint.created_at.desc())
        .limit(1)
    )
    with translated_errors():
        return session.scalars(query.execution_options(populate_existing=True)).first()


def get_checkpoint(session: Session, job_id: str, checkpoint_id: str) -> Checkpoint:
    """One of the job's live checkpoints; NotFound otherwise (also for another job's)."""
    query = select(Checkpoint).where(
        Checkpoint.id == checkpoint_id, Checkpoint.job_id == job_id, Checkpoint.deleted_at.is_(None)
    )
    with translated_errors():
        checkpoint = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if checkpoint is None:
        raise NotFound("checkpoint", checkpoint_id)
    return checkpoint


# ---------------------------------------------------------------------------------------------
# Storage accounting and retention of finished jobs (service side; no lease)


def tenant_checkpoint_bytes(session: Session, tenant_id: str) -> int:
    """Bytes of the tenant's live checkpoints, as the workers recorded them."""
    query = (
        select(func.coalesce(func.sum(Checkpoint.size_bytes), 0))
        .join(Job, Job.id == Checkpoint.job_id)
        .where(Job.tenant_id == tenant_id, Checkpoint.deleted_at.is_(None))
    )
    with translated_errors():
        return int(session.execute(query).scalar_one())


def reclaimable_checkpoints(session: Session, tenant_id: str) -> list[Checkpoint]:
    """The tenant's checkpoints that retention may delete, oldest first.

    Only finished jobs give any up, and each keeps its best checkpoint and any registered as a
    model version; a failed or cancelled job also keeps its newest one, so a resume continues
    where it stopped.
    """
    query = (
        select(Checkpoint, Job.status)
        .join(Job, Job.id == Checkpoint.job_id)
        .where(
            Job.tenant_id == tenant_id,
            Job.status.in_(TERMINAL),
            Checkpoint.deleted_at.is_(None),
            Checkpoint.is_best.is_(False),
            ~exists().where(ModelVersion.checkpoint_id == Checkpoint.id),  # a registered model version's stays
        )
        .order_by(Checkpoint.job_id, Checkpoint.step.desc(), Checkpoint.created_at.desc())
        .execution_options(populate_existing=True)
    )
    with translated_errors():
        rows = session.execute(query).all()
    reclaimable: list[Checkpoint] = []
    newest_seen: set[str] = set()
    for checkpoint, status in rows:
        if status != JobStatus.SUCCEEDED and checkpoint.job_id not in newest_seen:
            newest_seen.add(checkpoint.job_id)
            if _is_newest(session, checkpoint):
                continue
        reclaimable.append(checkpoint)
    return sorted(reclaimable, key=lambda c: (c.created_at, c.step))


def _is_newest(session: Session, checkpoint: Checkpoint) -> bool:
    """Whether no live checkpoint of the job (best included) has a higher step."""
    query = select(func.max(Checkpoint.step)).where(
        Checkpoint.job_id == checkpoint.job_id, Checkpoint.deleted_at.is_(None)
    )
    return int(session.execute(query).scalar_one() or 0) <= checkpoint.step


def discard_checkpoints(session: Session, checkpoint_ids: Iterable[str]) -> int:
    """Mark checkpoints of finished jobs deleted once their files are gone; returns how many.

    Guarded on the job still being finished and the checkpoint not being its best, so a
    job resumed meanwhile keeps its index (its worker re-records what it writes anyway).
    """
    ids = list(checkpoint_ids)
    if not ids:
        return 0
    finished = select(Job.id).where(Job.status.in_(TERMINAL))
    with write_transaction(session):
        result = session.execute(
            update(Checkpoint)
            .where(
                Checkpoint.id.in_(ids),
                Checkpoint.deleted_at.is_(None),
                Checkpoint.is_best.is_(False),
                Checkpoint.job_id.in_(finished),
            )
            .values(deleted_at=db_now())
            .execution_options(synchronize_session=False)
        )
        return cast(CursorResult[Any], result).rowcount
