"""Uploaded datasets: one row per file a tenant uploaded (the file itself is in the artifact store).

Every read is tenant-scoped: another tenant's dataset, like a deleted one, is NotFound.
Deleting is soft (deleted_at), so jobs that trained on a dataset keep a readable record.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from adamant.store.db import db_now, decode_cursor, encode_cursor, translated_errors, write_transaction
from adamant.store.exceptions import NotFound
from adamant.store.models import Dataset, Tenant, json_safe, new_id, relative_path
from adamant.store.usage import check_dataset_count

MAX_PAGE = 500


def new_dataset_id() -> str:
    """An id to store the upload under before its row exists (pass it to create_dataset)."""
    return new_id("ds")


def create_dataset(
    session: Session,
    tenant_id: str,
    *,
    name: str,
    path: str,
    format: str,
    size_bytes: int,
    sha256: str,
    rows: int | None = None,
    columns: dict[str, Any] | list[Any] | None = None,
    dataset_id: str | None = None,
    max_datasets: int | None = None,
) -> Dataset:
    """Record an uploaded file; `path` is relative to the artifact root.

    With `max_datasets`, QuotaExceeded when the tenant already keeps that many: counted with the
    tenant's row locked, so two uploads at once cannot both take the last place."""
    with write_transaction(session):
        # FOR NO KEY UPDATE: uploads of one tenant take turns here; its job submits do not wait.
        if session.get(Tenant, tenant_id, with_for_update={"key_share": True}) is None:
            raise NotFound("tenant", tenant_id)
        if max_datasets is not None:
            check_dataset_count(count_datasets(session, tenant_id), max_datasets)
        dataset = Dataset(
            id=dataset_id or new_dataset_id(),
            tenant_id=tenant_id,
            name=name,
            path=relative_path(path),
            format=format,
            size_bytes=size_bytes,
            sha256=sha256,
            rows=rows,
            columns=json_safe(columns),
        )
        session.add(dataset)
        session.flush()
        return dataset


def count_datasets(session: Session, tenant_id: str) -> int:
    """How many datasets the tenant keeps (deleted ones do not count)."""
    query = select(func.count(Dataset.id)).where(Dataset.tenant_id == tenant_id, Dataset.deleted_at.is_(None))
    with translated_errors():
        return int(session.execute(query).scalar_one())


def get_dataset(session: Session, tenant_id: str, dataset_id: str) -> Dataset:
    """The tenant's dataset; NotFound when missing, deleted or another tenant's."""
    query = select(Dataset).where(
        Dataset.id == dataset_id, Dataset.tenant_id == tenant_id, Dataset.deleted_at.is_(None)
    )
    with translated_errors():
        dataset = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if dataset is None:
        raise NotFound("dataset", dataset_id)
    return dataset


def dataset_path(session: Session, tenant_id: str, dataset_id: str) -> str:
    """Where the dataset's file is, relative to the artifact root."""
    return get_dataset(session, tenant_id, dataset_id).path


def list_datasets(
    session: Session, tenant_id: str, *, limit: int = 50, cursor: str | None = None
) -> tuple[list[Dataset], str | None]:
    """The tenant's datasets newest first, one page, and the next page's cursor (None at the end)."""
    if limit < 1:
        raise ValueError("limit must be >= 1")
    limit = min(limit, MAX_PAGE)
    query = select(Dataset).where(Dataset.tenant_id == tenant_id, Dataset.deleted_at.is_(None))
    if cursor is not None:
        created_at, last_id = decode_cursor(cursor, float, str)
        query = query.where(
            or_(Dataset.created_at < created_at, and_(Dataset.created_at == created_at, Dataset.id < last_id))
        )
    query = query.order_by(Dataset.created_at.desc(), Dataset.id.desc()).limit(limit + 1)
    with translated_errors():
        datasets = list(session.scalars(query))
    if len(datasets) <= limit:
        return datasets, None
    last = datasets[limit - 1]
    return datasets[:limit], encode_cursor(last.created_at, last.id)


def delete_dataset(session: Session, tenant_id: str, dataset_id: str) -> Dataset:
    """Mark the dataset deleted (the caller removes the file); NotFound when already gone."""
    with write_transaction(session):
        dataset = get_dataset(session, tenant_id, dataset_id)
        dataset.deleted_at = db_now()
        session.flush()
        session.refresh(dataset)
        return dataset
