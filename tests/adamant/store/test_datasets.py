from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from adamant.store import (
    NotFound,
    Tenant,
    create_dataset,
    dataset_path,
    delete_dataset,
    get_dataset,
    list_datasets,
    new_dataset_id,
)


def upload(session: Session, tenant: Tenant, name: str = "customers.csv", **fields: object):
    dataset_id = fields.pop("dataset_id", None) or new_dataset_id()
    return create_dataset(
        session,
        tenant.id,
        dataset_id=dataset_id,
        name=name,
        path=f"datasets/{tenant.id}/{dataset_id}/{name}",
        format="csv",
        size_bytes=1234,
        sha256="ef" * 32,
        rows=10,
        columns={"columns": [{"name": "age", "kind": "numeric", "missing": float("nan")}]},
        **fields,
    )


def test_an_upload_is_recorded_and_read_back(session: Session, tenant: Tenant) -> None:
    dataset = upload(session, tenant)

    assert dataset.id.startswith("ds_")
    stored = get_dataset(session, tenant.id, dataset.id)
    assert (stored.name, stored.format, stored.size_bytes, stored.rows) == ("customers.csv", "csv", 1234, 10)
    assert stored.columns == {"columns": [{"name": "age", "kind": "numeric", "missing": None}]}
    assert dataset_path(session, tenant.id, dataset.id) == f"datasets/{tenant.id}/{dataset.id}/customers.csv"


def test_another_tenants_dataset_is_not_found(session: Session, make_tenant: Callable[..., Tenant]) -> None:
    owner, other = make_tenant(), make_tenant()
    dataset = upload(session, owner)

    for attempt in (
        lambda: get_dataset(session, other.id, dataset.id),
        lambda: dataset_path(session, other.id, dataset.id),
        lambda: delete_dataset(session, other.id, dataset.id),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert list_datasets(session, other.id) == ([], None)
    assert get_dataset(session, owner.id, dataset.id).deleted_at is None


def test_deleted_datasets_disappear(session: Session, tenant: Tenant) -> None:
    dataset = upload(session, tenant)

    deleted = delete_dataset(session, tenant.id, dataset.id)

    assert deleted.deleted_at is not None
    with pytest.raises(NotFound):
        get_dataset(session, tenant.id, dataset.id)
    with pytest.raises(NotFound):
        delete_dataset(session, tenant.id, dataset.id)
    assert list_datasets(session, tenant.id)[0] == []


def test_datasets_are_paged_newest_first(session: Session, tenant: Tenant) -> None:
    created = [upload(session, tenant, f"part-{i}.csv").id for i in range(5)]

    seen, cursor = [], None
    while True:
        page, cursor = list_datasets(session, tenant.id, limit=2, cursor=cursor)
        seen += [d.id for d in page]
        if cursor is None:
            break

    assert seen == created[::-1]


def test_a_dataset_needs_a_real_tenant_and_a_relative_path(session: Session, tenant: Tenant) -> None:
    with pytest.raises(NotFound):
        create_dataset(session, "tnt_missing", name="x", path="x.csv", format="csv", size_bytes=1, sha256="0" * 64)
    with pytest.raises(ValueError):
        create_dataset(session, tenant.id, name="x", path="../x.csv", format="csv", size_bytes=1, sha256="0" * 64)
