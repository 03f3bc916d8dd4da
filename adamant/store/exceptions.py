"""Errors the store raises; SQLAlchemy and driver errors are translated into these at its boundary.

Each pickles with its fields (__reduce__): Celery's prefork pool sends exceptions between
processes, and a class whose __init__ takes fields would otherwise come back as another type.
"""

from __future__ import annotations

from collections.abc import Iterable

from adamant.exceptions import AdamantError


class StoreError(AdamantError):
    """Root of every error the store raises; also what a rejected write becomes."""

    kind = "store_error"


class StoreUnavailable(StoreError):
    """The database could not be reached, or stayed locked past the busy timeout: retry later."""

    kind = "store_unavailable"


class NotFound(StoreError):
    """No such row for this tenant (another tenant's row is reported the same way)."""

    kind = "not_found"

    def __init__(self, what: str, id: str) -> None:
        super().__init__(f"{what} {id!r} not found")
        self.what = what
        self.id = id

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return type(self), (self.what, self.id)

    def to_dict(self) -> dict[str, object]:
        return {"type": self.kind, "message": str(self), "what": self.what, "id": self.id}


class AlreadyExists(StoreError):
    """A row with this unique name or key already exists."""

    kind = "already_exists"

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} already exists")
        self.what = what
        self.key = key

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return type(self), (self.what, self.key)


class InvalidTransition(StoreError):
    """A job (or a sweep, or a trial: `what`) is not in a status from which the requested change is allowed."""

    kind = "invalid_transition"

    def __init__(
        self, job_id: str, expected: str | Iterable[str], actual: str | None, to: str | None = None, what: str = "job"
    ) -> None:
        self.job_id = job_id  # the id of the job, sweep or trial named by `what`
        self.expected = (expected,) if isinstance(expected, str) else tuple(expected)
        self.actual = actual
        self.to = to
        self.what = what
        wanted = " or ".join(self.expected) or "nothing"
        change = f" to move to {to}" if to else ""
        super().__init__(f"{what} {job_id} is {actual}; it must be {wanted}{change}")

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return type(self), (self.job_id, self.expected, self.actual, self.to, self.what)

    def to_dict(self) -> dict[str, object]:
        return {
            "type": self.kind,
            "message": str(self),
            "job_id": self.job_id,
            "expected": list(self.expected),
            "actual": self.actual,
            "to": self.to,
        }


class LeaseLost(StoreError):
    """A worker's lease on a job is no longer held (expired, reaped or re-claimed): stop without writing."""

    kind = "lease_lost"

    def __init__(self, job_id: str, token: int) -> None:
        super().__init__(f"lease {token} on job {job_id} is no longer held")
        self.job_id = job_id
        self.token = token

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return type(self), (self.job_id, self.token)


class IdempotencyConflict(StoreError):
    """An Idempotency-Key was reused with a different request body."""

    kind = "idempotency_conflict"

    def __init__(self, idempotency_key: str, job_id: str) -> None:
        super().__init__(
            f"Idempotency-Key {idempotency_key!r} was already used for job {job_id} with a different request"
        )
        self.idempotency_key = idempotency_key
        self.job_id = job_id

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return type(self), (self.idempotency_key, self.job_id)

    def to_dict(self) -> dict[str, object]:
        return {"type": self.kind, "message": str(self), "idempotency_key": self.idempotency_key, "job_id": self.job_id}


class LimitExceeded(StoreError):
    """A tenant limit (concurrent jobs, epochs) would be exceeded."""

    kind = "limit_exceeded"

    def __init__(self, limit: str, value: int, maximum: int) -> None:
        super().__init__(f"{limit} is {maximum} for this tenant; this request needs {value}")
        self.limit = limit
        self.value = value
        self.maximum = maximum

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return type(self), (self.limit, self.value, self.maximum)

    def to_dict(self) -> dict[str, object]:
        return {
            "type": self.kind,
            "message": str(self),
            "limit": self.limit,
            "value": self.value,
            "maximum": self.maximum,
        }


class InvalidCursor(StoreError):
    """A page cursor that this store did not issue."""

    kind = "invalid_cursor"


class LastKey(StoreError):
    """Revoking this key would leave its tenant without a valid key (a lock-out only an admin could undo)."""

    kind = "last_key"

    def __init__(self, tenant_id: str, key_id: str) -> None:
        super().__init__(f"key {key_id!r} is the last valid key of tenant {tenant_id!r}")
        self.tenant_id = tenant_id
        self.key_id = key_id

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return type(self), (self.tenant_id, self.key_id)


class RegistryConflict(StoreError):
    """A registry change the model's state does not allow (an alias moved since it was read, a
    version that aliases still point at deleted, a job that has no checkpoint to register)."""

    kind = "registry_conflict"

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path  # the request field the conflict is about

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return type(self), (str(self), self.path)
