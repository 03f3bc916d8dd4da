"""The checkpoints index: which checkpoint directories a job has, and which one is its best.

The worker writes a checkpoint atomically on disk first, then records it here under its lease;
a resume takes the newest row whose files still hash right. Pruned directories are forgotten
(soft-deleted). Reads take a job id: the service checks the job's tenant first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from adamant.store.db import db_now, translated_errors, write_transaction
from adamant.store.exceptions import NotFound
from adamant.store.jobs import Lease, lock_held_job
from adamant.store.models import Checkpoint, json_safe, relative_path


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
