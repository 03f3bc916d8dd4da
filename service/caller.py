"""Who a request acts for: the authenticated tenant (or the admin) and the limits it carries."""

from __future__ import annotations

from dataclasses import dataclass

from adamant.store.models import Tenant


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    tenant_name: str
    is_admin: bool
    max_epochs: int
    max_run_time_s: float
    max_artifact_bytes: int | None = None  # the tenant's own quota (None: the service default)

    @classmethod
    def of(cls, tenant: Tenant) -> Caller:
        return cls(tenant.id, tenant.name, bool(tenant.is_admin), tenant.max_epochs, float(tenant.max_run_time_s),
                   tenant.max_artifact_bytes)
