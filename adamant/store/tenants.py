"""Tenants, their limits and their API keys (stored as sha256 digests, never in plaintext).

Keys are "adm_" + 43 url-safe characters (32 random bytes). A key has that much entropy, so
a plain sha256 is the right digest (a slow password hash buys nothing and costs every
request); lookups go by digest, and the digests are compared in constant time regardless.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from sqlalchemy import exc, or_, select, update
from sqlalchemy.orm import Session

from adamant.store.db import db_now, translated_errors, write_transaction
from adamant.store.exceptions import AlreadyExists, LastKey, NotFound
from adamant.store.models import ApiKey, Tenant

KEY_PREFIX = "adm_"
MAX_KEY_LENGTH = 512


def key_digest(plaintext: str) -> str:
    """The hex sha256 stored for a key."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_tenant(
    session: Session,
    name: str,
    *,
    max_concurrent_jobs: int = 4,
    max_epochs: int = 1000,
    max_run_time_s: int = 24 * 3600,
    is_admin: bool = False,
    max_artifact_bytes: int | None = None,
    max_datasets: int | None = None,
    dataset_prefixes: Sequence[str] = (),
) -> Tenant:
    """A new tenant; AlreadyExists when the name is taken.

    max_artifact_bytes None means the deployment's default (ADAMANT_ARTIFACT_QUOTA_BYTES),
    max_datasets None ADAMANT_DEFAULT_MAX_DATASETS. dataset_prefixes: the object-store prefixes
    its dataset references may name, stored as given (the API normalises them first).
    """
    try:
        with write_transaction(session):
            tenant = Tenant(
                name=name,
                max_concurrent_jobs=max_concurrent_jobs,
                max_epochs=max_epochs,
                max_run_time_s=max_run_time_s,
                is_admin=is_admin,
                max_artifact_bytes=max_artifact_bytes,
                max_datasets=max_datasets,
                dataset_prefixes=list(dataset_prefixes),
            )
            session.add(tenant)
            session.flush()
            return tenant
    except Exception as error:
        if isinstance(error.__cause__, exc.IntegrityError):
            raise AlreadyExists("tenant", name) from error
        raise


def get_tenant(session: Session, tenant_id: str) -> Tenant:
    with translated_errors():
        tenant = session.get(Tenant, tenant_id, populate_existing=True)
    if tenant is None:
        raise NotFound("tenant", tenant_id)
    return tenant


LIMITS = ("max_concurrent_jobs", "max_epochs", "max_run_time_s", "max_artifact_bytes", "max_datasets")
DEFAULTED_LIMITS = ("max_artifact_bytes", "max_datasets")  # None: the deployment's default


def update_limits(
    session: Session, tenant_id: str, *, dataset_prefixes: Sequence[str] | None = None, **limits: int | None
) -> Tenant:
    """Change some of a tenant's limits (max_artifact_bytes, max_datasets None: the deployment's default)
    and, unless None, its allowed object-store prefixes (replaced whole).

    Jobs already queued or running keep the limits they were admitted under; the prefixes are
    checked again when a worker reads the data, so a removed prefix stops jobs not yet started."""
    unknown = set(limits) - set(LIMITS)
    if unknown:
        raise ValueError(f"not a tenant limit: {sorted(unknown)}")
    if any(value is None for name, value in limits.items() if name not in DEFAULTED_LIMITS):
        raise ValueError(f"only {' and '.join(DEFAULTED_LIMITS)} may be None")
    if any(value is not None and value < 0 for value in limits.values()):
        raise ValueError("limits must be >= 0")
    with write_transaction(session):
        tenant = session.get(Tenant, tenant_id, with_for_update={"key_share": True})
        if tenant is None:
            raise NotFound("tenant", tenant_id)
        for name, value in limits.items():
            setattr(tenant, name, value)
        if dataset_prefixes is not None:
            tenant.dataset_prefixes = list(dataset_prefixes)
        session.flush()
        return tenant


def set_artifact_quota(session: Session, tenant_id: str, max_bytes: int | None) -> Tenant:
    """Set the tenant's checkpoint-storage quota in bytes (None: the deployment's default)."""
    return update_limits(session, tenant_id, max_artifact_bytes=max_bytes)


def artifact_quota(tenant: Tenant, default: int | None) -> int | None:
    """The bytes of checkpoints this tenant may keep; None: unlimited."""
    return tenant.max_artifact_bytes if tenant.max_artifact_bytes is not None else default


def tenant_by_name(session: Session, name: str) -> Tenant | None:
    with translated_errors():
        return session.scalars(select(Tenant).where(Tenant.name == name)).one_or_none()


def create_api_key(session: Session, tenant_id: str, name: str) -> tuple[ApiKey, str]:
    """A new key for the tenant: (its row, the plaintext). The plaintext is never seen again."""
    plaintext = new_api_key()
    with write_transaction(session):
        return _add_key(session, tenant_id, name, plaintext), plaintext


def authenticate(session: Session, plaintext: str) -> Tenant | None:
    """The tenant a presented key belongs to; None for an unknown or revoked key."""
    if not plaintext or len(plaintext) > MAX_KEY_LENGTH:
        return None
    digest = key_digest(plaintext)
    query = (
        select(ApiKey.key_sha256, Tenant)
        .join(Tenant, Tenant.id == ApiKey.tenant_id)
        .where(ApiKey.key_sha256 == digest, or_(ApiKey.revoked_at.is_(None), ApiKey.revoked_at > db_now()))
    )
    with translated_errors():
        row = session.execute(query).one_or_none()
    if row is None or not hmac.compare_digest(row[0], digest):
        return None
    return row[1]


KEY_USE_PRECISION_S = 60.0


def note_key_used(session: Session, plaintext: str) -> None:
    """Stamp the key's last_used_at with the database's time, at most once a minute (one row
    write per key per minute, whatever the request rate)."""
    stale = or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < db_now() - KEY_USE_PRECISION_S)
    with write_transaction(session):
        session.execute(update(ApiKey).where(ApiKey.key_sha256 == key_digest(plaintext), stale).values(last_used_at=db_now()))


def list_api_keys(session: Session, tenant_id: str) -> list[ApiKey]:
    """The tenant's keys, revoked ones included, oldest first."""
    query = select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at, ApiKey.id)
    with translated_errors():
        return list(session.scalars(query))


def revoke_api_key(
    session: Session, tenant_id: str, key_id: str, *, grace_s: float = 0.0, keep_last: bool = False
) -> ApiKey:
    """Revoke one of the tenant's keys, now or `grace_s` seconds from now; NotFound for another
    tenant's key. A revocation only ever moves earlier (again with no grace: at once; again
    with a longer grace: no change). keep_last: LastKey unless the tenant keeps another key
    with no revocation scheduled."""
    with write_transaction(session):
        # The tenant's row lock serialises revocations, so two at once cannot both leave "another key".
        session.scalars(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update(key_share=True)).one_or_none()
        key = session.scalars(
            select(ApiKey).where(ApiKey.id == key_id, ApiKey.tenant_id == tenant_id).with_for_update(key_share=True)
        ).one_or_none()
        if key is None:
            raise NotFound("api key", key_id)
        if keep_last and not _other_lasting_key(session, tenant_id, key_id):
            raise LastKey(tenant_id, key_id)
        revoked_at = db_now() + grace_s if grace_s > 0 else db_now()
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, or_(ApiKey.revoked_at.is_(None), ApiKey.revoked_at > revoked_at))
            .values(revoked_at=revoked_at)
        )
        session.refresh(key)
        return key


def _other_lasting_key(session: Session, tenant_id: str, key_id: str) -> bool:
    """Whether the tenant holds a key other than key_id with no revocation, even a scheduled one."""
    query = select(ApiKey.id).where(ApiKey.tenant_id == tenant_id, ApiKey.id != key_id, ApiKey.revoked_at.is_(None))
    return session.scalars(query.limit(1)).first() is not None


def revoked_key_digests(session: Session, since: float | None, overlap_s: float = 5.0) -> tuple[list[str], float]:
    """(digests of keys whose revocation took effect after `since` - overlap_s, the database's
    time now): what a process caching keys must forget. since None: none, only the time. The
    overlap covers a revocation committed a moment after the time it was stamped with."""
    with translated_errors():
        now = float(session.execute(select(db_now())).scalar_one())
        if since is None:
            return [], now
        query = select(ApiKey.key_sha256).where(ApiKey.revoked_at > since - overlap_s, ApiKey.revoked_at <= now)
        return list(session.scalars(query)), now


def ensure_tenant_with_key(
    session: Session, name: str, plaintext: str | None = None, *, is_admin: bool = False, key_name: str = "bootstrap"
) -> tuple[Tenant, str | None]:
    """Create the tenant and key if missing; safe to call at every start, from several processes.

    With `plaintext` (the admin key from the environment, the embedded user's saved key) that
    key is made valid for this tenant. Without it, a key is created only when the tenant has
    no valid key, and its plaintext returned; otherwise the second item is None. is_admin=True
    promotes an existing tenant; nothing here demotes one. AlreadyExists when `plaintext`
    already belongs to another tenant.
    """
    for attempt in (1, 2):  # a concurrent first start may insert the same tenant or key
        try:
            with write_transaction(session):
                return _ensure_tenant_with_key(session, name, plaintext, is_admin, key_name)
        except AlreadyExists:
            raise
        except Exception as error:
            if attempt == 2 or not isinstance(error.__cause__, exc.IntegrityError):
                raise
    raise AssertionError("unreachable")


def _ensure_tenant_with_key(
    session: Session, name: str, plaintext: str | None, is_admin: bool, key_name: str
) -> tuple[Tenant, str | None]:
    tenant = session.scalars(select(Tenant).where(Tenant.name == name).with_for_update(key_share=True)).one_or_none()
    if tenant is None:
        tenant = Tenant(name=name, is_admin=is_admin)
        session.add(tenant)
        session.flush()
    elif is_admin and not tenant.is_admin:
        tenant.is_admin = True
        session.flush()

    if plaintext is not None:
        key = session.scalars(select(ApiKey).where(ApiKey.key_sha256 == key_digest(plaintext))).one_or_none()
        if key is None:
            _add_key(session, tenant.id, key_name, plaintext)
        elif key.tenant_id != tenant.id:
            raise AlreadyExists("api key", key.prefix + "…")
        elif key.revoked_at is not None:
            key.revoked_at = None  # the operator configured this key explicitly: it is valid again
            session.flush()
        return tenant, None

    valid = session.scalars(
        select(ApiKey.id).where(ApiKey.tenant_id == tenant.id, ApiKey.revoked_at.is_(None)).limit(1)
    ).first()
    if valid is not None:
        return tenant, None
    created = new_api_key()
    _add_key(session, tenant.id, key_name, created)
    return tenant, created


def _add_key(session: Session, tenant_id: str, name: str, plaintext: str) -> ApiKey:
    if session.get(Tenant, tenant_id) is None:
        raise NotFound("tenant", tenant_id)
    key = ApiKey(tenant_id=tenant_id, name=name, key_sha256=key_digest(plaintext), prefix=plaintext[:8])
    session.add(key)
    session.flush()
    return key
