import hashlib
from collections.abc import Callable

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from adamant.store import (
    AlreadyExists,
    ApiKey,
    NotFound,
    Tenant,
    authenticate,
    create_api_key,
    create_tenant,
    ensure_tenant_with_key,
    get_tenant,
    list_api_keys,
    revoke_api_key,
    tenant_by_name,
)

from .conftest import unique


def test_a_tenant_has_limits_with_defaults(session: Session) -> None:
    tenant = create_tenant(session, unique("acme"), max_concurrent_jobs=2)

    assert tenant.id.startswith("tnt_")
    assert (tenant.max_concurrent_jobs, tenant.max_epochs, tenant.max_run_time_s, tenant.is_admin) == (
        2,
        1000,
        86400,
        False,
    )
    assert get_tenant(session, tenant.id).name == tenant.name
    assert tenant_by_name(session, tenant.name).id == tenant.id
    with pytest.raises(AlreadyExists):
        create_tenant(session, tenant.name)
    with pytest.raises(NotFound):
        get_tenant(session, "tnt_missing")


def test_a_key_authenticates_its_tenant(session: Session, tenant: Tenant) -> None:
    key, plaintext = create_api_key(session, tenant.id, "ci")

    assert plaintext.startswith("adm_") and len(plaintext) == 4 + 43
    assert key.prefix == plaintext[:8]
    assert authenticate(session, plaintext).id == tenant.id


def test_wrong_and_revoked_keys_authenticate_nobody(session: Session, tenant: Tenant) -> None:
    key, plaintext = create_api_key(session, tenant.id, "laptop")

    assert authenticate(session, plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")) is None
    assert authenticate(session, "") is None
    assert authenticate(session, "x" * 10_000) is None

    revoked = revoke_api_key(session, tenant.id, key.id)
    assert revoked.revoked_at is not None
    assert authenticate(session, plaintext) is None
    assert revoke_api_key(session, tenant.id, key.id).revoked_at == revoked.revoked_at  # again: no-op


def test_another_tenants_key_cannot_be_revoked(session: Session, make_tenant: Callable[..., Tenant]) -> None:
    owner, other = make_tenant(), make_tenant()
    key, plaintext = create_api_key(session, owner.id, "k")

    with pytest.raises(NotFound):
        revoke_api_key(session, other.id, key.id)
    assert authenticate(session, plaintext) is not None
    assert [k.id for k in list_api_keys(session, owner.id)] == [key.id]
    assert list_api_keys(session, other.id) == []


def test_the_plaintext_key_is_stored_nowhere(session: Session, tenant: Tenant) -> None:
    key, plaintext = create_api_key(session, tenant.id, "secret")
    secret = plaintext[4:]  # the random part

    stored = session.get(ApiKey, key.id)
    assert stored.key_sha256 == hashlib.sha256(plaintext.encode()).hexdigest()
    for table in inspect(session.bind).get_table_names():
        for row in session.execute(text(f'SELECT * FROM "{table}"')):
            assert all(secret not in str(value) for value in row), table


def test_bootstrap_is_idempotent_and_keeps_the_configured_key_valid(session: Session) -> None:
    name, configured = unique("admin"), "adm_" + "k" * 43

    admin, created = ensure_tenant_with_key(session, name, configured, is_admin=True)
    again, created_again = ensure_tenant_with_key(session, name, configured, is_admin=True)

    assert admin.id == again.id and admin.is_admin
    assert created is None and created_again is None
    assert len(list_api_keys(session, admin.id)) == 1
    assert authenticate(session, configured).id == admin.id

    revoke_api_key(session, admin.id, list_api_keys(session, admin.id)[0].id)
    ensure_tenant_with_key(session, name, configured, is_admin=True)  # the environment still says so
    assert authenticate(session, configured) is not None


def test_bootstrap_without_a_key_creates_one_only_the_first_time(session: Session) -> None:
    name = unique("local")

    tenant, plaintext = ensure_tenant_with_key(session, name)
    _, second = ensure_tenant_with_key(session, name)

    assert plaintext is not None and second is None
    assert authenticate(session, plaintext).id == tenant.id


def test_a_configured_key_of_another_tenant_is_refused(session: Session, tenant: Tenant) -> None:
    _, plaintext = create_api_key(session, tenant.id, "mine")

    with pytest.raises(AlreadyExists):
        ensure_tenant_with_key(session, unique("thief"), plaintext)
    assert session.scalars(select(ApiKey.tenant_id).where(ApiKey.prefix == plaintext[:8])).all() == [tenant.id]
