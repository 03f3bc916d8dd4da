"""API keys over HTTP: a tenant lists, creates, revokes and rotates its own (/v1/keys); the
admin does the same for any tenant (/v1/tenants/{tenant_id}/keys).

A revoked key answers 401 at once in the service process that revoked it and within about a
second in the others (deps.RevocationWatch). Revoking a tenant's last key without a
replacement is refused with 409 unless `?force=true`: only an admin could undo it. Rotating
creates a new key with the old one's name and revokes the old one, now or after `grace_s`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, status
from sqlalchemy.orm import Session

from adamant.store import tenants as store_tenants
from service.api.deps import AdminDep, CallerDep, SessionDep, forget_key
from service.api.problems import Problem
from service.api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyOut, ApiKeyRotate

router = APIRouter(tags=["keys"])

Force = Annotated[bool, Query(description="revoke even the tenant's last key that has no revocation scheduled")]


@router.get("/v1/keys", response_model=ApiKeyList)
def list_my_keys(caller: CallerDep, session: SessionDep) -> ApiKeyList:
    """The caller's keys, revoked ones included, oldest first (never the keys themselves)."""
    return list_keys(session, caller.tenant_id)


@router.post("/v1/keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
def create_my_key(caller: CallerDep, session: SessionDep, body: ApiKeyCreate | None = None) -> ApiKeyCreated:
    """A new key for the caller's tenant; the plaintext is in this answer only."""
    return create_key(session, caller.tenant_id, body or ApiKeyCreate())


@router.delete("/v1/keys/{key_id}", response_model=ApiKeyOut)
def revoke_my_key(key_id: str, caller: CallerDep, session: SessionDep, request: Request, force: Force = False) -> ApiKeyOut:
    """Revoke one of the caller's keys at once (it may be the key of this request)."""
    return revoke_key(session, request, caller.tenant_id, key_id, force=force)


@router.post("/v1/keys/{key_id}/rotate", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
def rotate_my_key(key_id: str, caller: CallerDep, session: SessionDep, request: Request,
                  body: Annotated[ApiKeyRotate | None, Body()] = None) -> ApiKeyCreated:
    """A new key replacing `key_id`, which stops working now or after `grace_s` seconds."""
    return rotate_key(session, request, caller.tenant_id, key_id, body or ApiKeyRotate())


@router.get("/v1/tenants/{tenant_id}/keys", response_model=ApiKeyList)
def list_tenant_keys(tenant_id: str, session: SessionDep, _: AdminDep) -> ApiKeyList:
    store_tenants.get_tenant(session, tenant_id)  # 404 for no such tenant, not an empty list
    return list_keys(session, tenant_id)


@router.post("/v1/tenants/{tenant_id}/keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
def create_tenant_key(tenant_id: str, session: SessionDep, _: AdminDep, body: ApiKeyCreate | None = None) -> ApiKeyCreated:
    return create_key(session, tenant_id, body or ApiKeyCreate())


@router.delete("/v1/tenants/{tenant_id}/keys/{key_id}", response_model=ApiKeyOut)
def revoke_tenant_key(tenant_id: str, key_id: str, session: SessionDep, request: Request, _: AdminDep,
                      force: Force = False) -> ApiKeyOut:
    return revoke_key(session, request, tenant_id, key_id, force=force)


@router.post("/v1/tenants/{tenant_id}/keys/{key_id}/rotate", status_code=status.HTTP_201_CREATED,
             response_model=ApiKeyCreated)
def rotate_tenant_key(tenant_id: str, key_id: str, session: SessionDep, request: Request, _: AdminDep,
                      body: Annotated[ApiKeyRotate | None, Body()] = None) -> ApiKeyCreated:
    return rotate_key(session, request, tenant_id, key_id, body or ApiKeyRotate())


def list_keys(session: Session, tenant_id: str) -> ApiKeyList:
    return ApiKeyList(keys=[ApiKeyOut.of(key) for key in store_tenants.list_api_keys(session, tenant_id)])


def create_key(session: Session, tenant_id: str, body: ApiKeyCreate) -> ApiKeyCreated:
    key, plaintext = store_tenants.create_api_key(session, tenant_id, body.name)
    return ApiKeyCreated.of(key, api_key=plaintext)


def revoke_key(session: Session, request: Request, tenant_id: str, key_id: str, *, force: bool) -> ApiKeyOut:
    key = store_tenants.revoke_api_key(session, tenant_id, key_id, keep_last=not force)  # LastKey: a 409
    forget_key(request, key.key_sha256)
    return ApiKeyOut.of(key)


def rotate_key(session: Session, request: Request, tenant_id: str, key_id: str, body: ApiKeyRotate) -> ApiKeyCreated:
    old = next((key for key in store_tenants.list_api_keys(session, tenant_id) if key.id == key_id), None)
    if old is None:
        raise Problem(404, "Not found", f"api key {key_id!r} not found")
    new, plaintext = store_tenants.create_api_key(session, tenant_id, old.name)
    old = store_tenants.revoke_api_key(session, tenant_id, key_id, grace_s=body.grace_s)
    if body.grace_s == 0:
        forget_key(request, old.key_sha256)
    return ApiKeyCreated.of(new, api_key=plaintext)
