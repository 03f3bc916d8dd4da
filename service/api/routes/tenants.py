"""Tenants and their API keys (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, status

from adamant.store import tenants as store_tenants
from service.api.deps import AdminDep, SessionDep, SettingsDep
from service.api.schemas import TenantCreate, TenantCreated

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TenantCreated)
def create_tenant(body: TenantCreate, session: SessionDep, settings: SettingsDep, _: AdminDep) -> TenantCreated:
    """Create a tenant, with its limits, and its first API key (shown once)."""
    tenant = store_tenants.create_tenant(
        session, body.name,
        max_concurrent_jobs=body.max_concurrent_jobs or settings.default_max_concurrent_jobs,
        max_epochs=body.max_epochs, max_run_time_s=body.max_run_time_s, max_artifact_bytes=body.max_artifact_bytes,
    )
    _, key = store_tenants.create_api_key(session, tenant.id, "default")
    return TenantCreated(
        tenant_id=tenant.id, name=tenant.name, api_key=key, max_concurrent_jobs=tenant.max_concurrent_jobs,
        max_epochs=tenant.max_epochs, max_run_time_s=tenant.max_run_time_s, max_artifact_bytes=tenant.max_artifact_bytes,
    )
