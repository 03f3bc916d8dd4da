"""API keys that exist before anyone can create one: the admin key and the local user's key.

The admin key comes from ADAMANT_ADMIN_KEY. With ADAMANT_LOCAL_USER on (the embedded default),
a tenant "local" gets a key on first start, saved to HOME/local-api-key (mode 600) and printed
once, so the README's curl examples and the dashboard work out of the box.
"""

from __future__ import annotations

import logging
import os
import secrets

from adamant.settings import Settings
from adamant.store import tenants as store_tenants

log = logging.getLogger("adamant.service")


def local_key_file(settings: Settings):  # type: ignore[no-untyped-def]
    return settings.home.absolute() / "local-api-key"


def ensure_keys(sessions, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    with sessions() as session:
        if settings.admin_key:
            store_tenants.ensure_tenant_with_key(session, "admin", settings.admin_key, is_admin=True)
        if settings.local_user:
            path = local_key_file(settings)
            fresh = not path.exists()
            if fresh:
                path.parent.mkdir(parents=True, exist_ok=True)
                key = "adm_" + secrets.token_urlsafe(32)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(key + "\n")
            key = path.read_text().strip()
            store_tenants.ensure_tenant_with_key(session, "local", key)
            if fresh:
                print(f"\nAdamant: API key of the local user (saved in {path}):\n\n    {key}\n", flush=True)
