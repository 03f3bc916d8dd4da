"""Tenants and their API keys (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from adamant.store import tenants as store_tenants
from service.api.deps import AdminDep, SessionDep, SettingsDep, forget_tenant
from service.api.problems import Problem
from service.api.schemas import TenantCreate, TenantCreated, TenantLimits, TenantOut

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TenantCreated)
def create_tenant(body: TenantCreate, session: SessionDep, settings: SettingsDep, _: AdminDep) -> TenantCreated:
    """Create a tenant, with its limits, and its first API key (shown once)."""
    tenant = store_tenants.create_tenant(
        session, body.name,
        max_concurrent_jobs=body.max_concurrent_jobs or settings.default_max_concurrent_jobs,
        max_epochs=body.max_epochs, max_run_time_s=body.max_run_time_s, max_artifact_bytes=body.max_artifact_bytes,
        max_datasets=body.max_datasets, dataset_prefixes=body.dataset_prefixes,
    )
    _, key = store_tenants.create_api_key(session, tenant.id, "default")
    return TenantCreated.of(tenant, api_key=key)


@router.patch("/{tenant_id}", response_model=TenantOut)
def update_tenant(tenant_id: str, body: TenantLimits, session: SessionDep, request: Request, _: AdminDep) -> TenantOut:
    """Change a tenant's limits and allowed dataset prefixes; fields left out stay. Jobs already
    admitted keep their limits. This service process applies the change at once; others within
    their 30 s cache of API keys."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    if "dataset_prefixes" in changes and changes["dataset_prefixes"] is None:
        raise Problem(422, "Invalid request", "dataset_prefixes: a list is required ([] allows none)")
    bad = [name for name, value in changes.items() if value is None and name not in store_tenants.DEFAULTED_LIMITS]
    if bad:
        raise Problem(422, "Invalid request", f"{bad[0]}: a number is required (only max_artifact_bytes and max_datasets may be null)")
    prefixes = changes.pop("dataset_prefixes", None)  # left out: unchanged
    tenant = store_tenants.update_limits(session, tenant_id, dataset_prefixes=prefixes, **changes)
    forget_tenant(request, tenant_id)
    return TenantOut.of(tenant)
