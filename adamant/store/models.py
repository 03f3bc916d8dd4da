"""The tables: SQLAlchemy models of tenants, keys, datasets, jobs and what jobs produce.

Representation choices, the same on SQLite and PostgreSQL:

- Ids are prefixed strings, "<prefix>_" + 26 hex digits: 12 of milliseconds since the epoch
  then 14 random (56 bits), so they sort by creation (strictly within one process) and do not
  collide in practice.
- Every timestamp is float epoch seconds (DOUBLE) taken from the database's clock (db_now()),
  so leases and their expiry are compared on one clock; format it at the edge.
- JSON columns hold plain JSON: non-finite floats become null (json_safe), since JSON cannot
  carry NaN. Metric values likewise store NaN/±inf as NULL.
- jobs.version goes up by one on every UPDATE of a job row (the column's onupdate), which is
  the service's ETag; updated_at follows it.
"""

from __future__ import annotations

import math
import os
import secrets
import threading
import time
from collections.abc import Mapping
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from adamant.store.db import db_now
from adamant.store.states import JobStatus, SweepStatus, TrialState

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


_RANDOM_BITS = 56
_last_id = [0, 0]  # milliseconds and random part of the last id made in this process
_id_lock = threading.Lock()


def new_id(prefix: str) -> str:
    """A fresh id such as job_0190c3b2a4f1e3d9c0ab5f7e21: 12 hex of milliseconds, 14 random.

    Ids made by one process only grow (as ULIDs do, the random part steps up by a random
    amount within a millisecond), so rows created in the same millisecond, which SQLite's
    clock cannot tell apart, still list in creation order.
    """
    with _id_lock:
        millis, previous = max(time.time_ns() // 1_000_000, _last_id[0]), _last_id[1]
        if millis == _last_id[0]:
            random_part = previous + 1 + secrets.randbits(16)
            if random_part >= 1 << _RANDOM_BITS:
                millis, random_part = millis + 1, secrets.randbits(_RANDOM_BITS - 1)
        else:
            random_part = secrets.randbits(_RANDOM_BITS - 1)  # leaves room to step up
        _last_id[:] = [millis, random_part]
    return f"{prefix}_{millis:012x}{random_part:014x}"


def json_safe(value: Any) -> Any:
    """A copy of `value` that JSON can carry: NaN and ±inf become None, tuples become lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def relative_path(path: str | os.PathLike[str]) -> str:
    """`path` as stored: POSIX, relative to the artifact root, never escaping it (ValueError)."""
    text_path = os.fspath(path).replace("\\", "/")
    parts = PurePosixPath(text_path).parts
    if not parts or text_path.startswith("/") or ".." in parts or ":" in parts[0]:
        raise ValueError(f"artifact paths are relative to the artifact root and stay under it: {text_path!r}")
    return str(PurePosixPath(*parts))


def finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


class StatusType(TypeDecorator[JobStatus]):
    """A job status stored as its string value and read back as JobStatus."""

    impl = String(16)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else JobStatus(value).value

    def process_result_value(self, value: Any, dialect: Any) -> JobStatus | None:
        return None if value is None else JobStatus(value)


# JSON with Python None stored as SQL NULL, so "no result yet" is NULL rather than 'null'.
JsonDocument = JSON(none_as_null=True)
STATUS_VALUES = ", ".join(f"'{status.value}'" for status in JobStatus)
JOB_KINDS = ("train", "score", "sweep")  # a sweep is the parent of its trials (parent_id)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("tnt"))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[float] = mapped_column(Double, default=db_now())
    max_concurrent_jobs: Mapped[int] = mapped_column(Integer, default=4)
    max_epochs: Mapped[int] = mapped_column(Integer, default=1000)
    max_run_time_s: Mapped[int] = mapped_column(Integer, default=24 * 3600)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    max_artifact_bytes: Mapped[int | None] = mapped_column(BigInteger)  # NULL: ADAMANT_ARTIFACT_QUOTA_BYTES
    max_datasets: Mapped[int | None] = mapped_column(Integer)  # NULL: ADAMANT_DEFAULT_MAX_DATASETS
    # Object-store prefixes its dataset references may name ("s3://acme/exports/"); empty: none.
    dataset_prefixes: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("key"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)  # hex digest; never the key
    prefix: Mapped[str] = mapped_column(String(8))  # first 8 characters, to tell keys apart
    created_at: Mapped[float] = mapped_column(Double, default=db_now())
    revoked_at: Mapped[float | None] = mapped_column(Double)
    last_used_at: Mapped[float | None] = mapped_column(Double)  # to within a minute (note_key_used)


class Dataset(Base):
    """An uploaded table; the file lives under the artifact root at `path`."""

    __tablename__ = "datasets"
    __table_args__ = (Index(None, "tenant_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ds"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(500))
    path: Mapped[str] = mapped_column(String(1000))
    format: Mapped[str] = mapped_column(String(20))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int | None] = mapped_column(BigInteger)
    columns: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)  # schema and preview, as the service wrote it
    created_at: Mapped[float] = mapped_column(Double, default=db_now())
    deleted_at: Mapped[float | None] = mapped_column(Double)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        CheckConstraint(f"status IN ({STATUS_VALUES})", name="status"),
        CheckConstraint(f"kind IN ({', '.join(repr(kind) for kind in JOB_KINDS)})", name="kind"),
        CheckConstraint("attempt >= 0 AND lease_token >= 0 AND max_restarts >= 0", name="counters"),
        Index(None, "tenant_id", "created_at", "id"),  # list newest first (scanned backwards)
        Index(None, "status", "lease_expires_at"),  # reaper
        Index(None, "status", "dispatched_at"),  # outbox
        Index(None, "parent_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("job"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(String(16), default="train")
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"))
    name: Mapped[str | None] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    status: Mapped[JobStatus] = mapped_column(StatusType, default=JobStatus.QUEUED)
    phase: Mapped[str | None] = mapped_column(String(40))  # loading | training | evaluating | checkpointing
    priority: Mapped[int] = mapped_column(Integer, default=0)
    queue: Mapped[str] = mapped_column(String(40), default="cpu")

    attempt: Mapped[int] = mapped_column(Integer, default=0)  # claims so far
    max_restarts: Mapped[int] = mapped_column(Integer, default=2)
    lease_token: Mapped[int] = mapped_column(BigInteger, default=0)  # fencing: +1 per claim
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[float | None] = mapped_column(Double)
    heartbeat_at: Mapped[float | None] = mapped_column(Double)

    progress: Mapped[dict[str, Any] | None] = mapped_column(
        JsonDocument
    )  # step, total_steps, epoch, fraction, eta_s, ...
    device: Mapped[str | None] = mapped_column(String(100))
    best_metrics: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    last_metrics: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)  # latest value of each val_* metric
    result: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    error: Mapped[dict[str, Any] | None] = mapped_column(
        JsonDocument
    )  # type, message, failure_class: user | infrastructure
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(128))
    dispatched_at: Mapped[float | None] = mapped_column(Double)  # outbox: when "run job X" was last sent

    created_at: Mapped[float] = mapped_column(Double, default=db_now())
    queued_at: Mapped[float | None] = mapped_column(Double, default=db_now())
    started_at: Mapped[float | None] = mapped_column(Double)  # start of the latest attempt
    finished_at: Mapped[float | None] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double, default=db_now(), onupdate=db_now())
    version: Mapped[int] = mapped_column(Integer, default=1, onupdate=literal_column("version + 1"))

    # Per-job counters: the last seq handed out for each child table. They only grow.
    metric_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    log_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    event_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class JobEvent(Base):
    """One row per status change of a job (from_status is NULL for its creation)."""

    __tablename__ = "job_events"
    __table_args__ = (
        CheckConstraint(f"to_status IN ({STATUS_VALUES})", name="to_status"),
        CheckConstraint(f"from_status IS NULL OR from_status IN ({STATUS_VALUES})", name="from_status"),
    )

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    from_status: Mapped[JobStatus | None] = mapped_column(StatusType)
    to_status: Mapped[JobStatus] = mapped_column(StatusType)
    at: Mapped[float] = mapped_column(Double, default=db_now())
    reason: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer)


class MetricPoint(Base):
    """One value of one metric at one step; value is NULL when it was NaN or infinite."""

    __tablename__ = "metric_points"
    __table_args__ = (Index(None, "job_id", "name", "step"),)

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger)
    epoch: Mapped[float] = mapped_column(Double)
    name: Mapped[str] = mapped_column(String(128))
    value: Mapped[float | None] = mapped_column(Double)
    time: Mapped[float] = mapped_column(Double)  # the worker's clock when it measured the value
    attempt: Mapped[int] = mapped_column(Integer)


class LogLine(Base):
    __tablename__ = "log_lines"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    time: Mapped[float] = mapped_column(Double)
    level: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)


class Checkpoint(Base):
    """A checkpoint directory (relative to the artifact root) a worker wrote and verified."""

    __tablename__ = "checkpoints"
    __table_args__ = (
        Index(None, "job_id", "step"),
        # At most one live best checkpoint per job.
        Index(
            "uq_checkpoints_job_id_best",
            "job_id",
            unique=True,
            sqlite_where=text("is_best AND deleted_at IS NULL"),
            postgresql_where=text("is_best AND deleted_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ckpt"))
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(BigInteger)
    epoch: Mapped[float] = mapped_column(Double)
    path: Mapped[str] = mapped_column(String(1000))
    sha256: Mapped[str] = mapped_column(String(64))  # of the manifest
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    is_best: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Double, default=db_now())
    deleted_at: Mapped[float | None] = mapped_column(Double)


class EnumString(TypeDecorator[StrEnum]):
    """A str enum (a sweep's status, a trial's state) stored as its string value and read back as the enum."""

    impl = String(16)
    cache_ok = True

    def __init__(self, enum: type[StrEnum]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Any) -> StrEnum | None:
        return None if value is None else self.enum(value)


SWEEP_STATUS_VALUES = ", ".join(f"'{status.value}'" for status in SweepStatus)
TRIAL_STATE_VALUES = ", ".join(f"'{state.value}'" for state in TrialState)


class Sweep(Base):
    """A hyperparameter sweep or an optimizer comparison: a parent of ordinary training jobs.

    The controller that proposes trials and stops bad ones keeps nothing in memory: each trial
    is a row here before its job is submitted, so a controller that dies is replaced by another
    (a short lease on the row, controller_until, keeps two from driving one sweep at once).
    """

    __tablename__ = "sweeps"
    __table_args__ = (
        CheckConstraint("kind IN ('sweep', 'comparison')", name="kind"),
        CheckConstraint(f"status IN ({SWEEP_STATUS_VALUES})", name="status"),
        Index(None, "tenant_id", "created_at", "id"),
        Index(None, "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("swp"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200))
    request: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    status: Mapped[SweepStatus] = mapped_column(EnumString(SweepStatus), default=SweepStatus.RUNNING)
    total_trials: Mapped[int] = mapped_column(Integer)
    best_trial: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    controller_until: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[float] = mapped_column(Double, default=db_now())
    finished_at: Mapped[float | None] = mapped_column(Double)
    version: Mapped[int] = mapped_column(Integer, default=1, onupdate=literal_column("version + 1"))


class SweepEvent(Base):
    """One row per status change of a sweep (from_status is NULL for its creation), as job_events for jobs."""

    __tablename__ = "sweep_events"
    __table_args__ = (
        CheckConstraint(f"to_status IN ({SWEEP_STATUS_VALUES})", name="to_status"),
        CheckConstraint(f"from_status IS NULL OR from_status IN ({SWEEP_STATUS_VALUES})", name="from_status"),
    )

    sweep_id: Mapped[str] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    from_status: Mapped[SweepStatus | None] = mapped_column(EnumString(SweepStatus))
    to_status: Mapped[SweepStatus] = mapped_column(EnumString(SweepStatus))
    at: Mapped[float] = mapped_column(Double, default=db_now())
    reason: Mapped[str | None] = mapped_column(Text)


class Trial(Base):
    """One configuration of a sweep (or one optimizer x seed of a comparison) and its job."""

    __tablename__ = "trials"
    __table_args__ = (
        CheckConstraint(f"state IN ({TRIAL_STATE_VALUES})", name="state"),
        Index(None, "job_id"),  # a trial's trainer finds its sweep (adamant.store.sweeps.judge_rungs)
    )

    sweep_id: Mapped[str] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str | None] = mapped_column(String(100))  # comparison: the optimizer
    params: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"))
    state: Mapped[TrialState] = mapped_column(EnumString(TrialState), default=TrialState.RUNNING)
    value: Mapped[float | None] = mapped_column(Double)  # the sweep's metric: best of the job so far
    rungs: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)  # ASHA: rung epoch -> value
    stopped_at_epoch: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[float] = mapped_column(Double, default=db_now())


class RegisteredModel(Base):
    """A name a tenant serves models under (the registry: adamant/store/registry.py)."""

    __tablename__ = "registered_models"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("mdl"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(100))
    task: Mapped[str] = mapped_column(String(40))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double, default=db_now())
    version_seq: Mapped[int] = mapped_column(Integer, default=0)  # the last version number handed out
    policy: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)  # monitoring: adamant/model_policy.py


class ModelVersion(Base):
    """One trained checkpoint registered under a model: what it was trained on and how it scored."""

    __tablename__ = "model_versions"

    model_id: Mapped[str] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    checkpoint_id: Mapped[str] = mapped_column(ForeignKey("checkpoints.id"))
    checkpoint_step: Mapped[int] = mapped_column(BigInteger)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    dataset_ref: Mapped[str] = mapped_column(String(2000))
    dataset_sha256: Mapped[str | None] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double, default=db_now())


class ModelAlias(Base):
    """A name (`production`, `staging`, ...) pointing at one version of a model; moved by a guarded UPDATE."""

    __tablename__ = "model_aliases"

    model_id: Mapped[str] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[float] = mapped_column(Double, default=db_now(), onupdate=db_now())


class AliasEvent(Base):
    """One row per move of an alias: who moved it, when, from which version to which (NULL: none)."""

    __tablename__ = "alias_events"
    __table_args__ = (Index(None, "model_id", "at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("aev"))
    model_id: Mapped[str] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(64))
    from_version: Mapped[int | None] = mapped_column(Integer)
    to_version: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(100))  # "key:<first 8 characters>", or "admin", "local user"
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[float] = mapped_column(Double, default=db_now())


class Webhook(Base):
    """A tenant's HTTP endpoint for events (job ends, drift verdicts, promotions), signed with its secret."""

    __tablename__ = "webhooks"
    __table_args__ = (Index(None, "tenant_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("whk"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    events: Mapped[list[str]] = mapped_column(JsonDocument)  # event names, or ["*"]
    created_at: Mapped[float] = mapped_column(Double, default=db_now())


class WebhookDelivery(Base):
    """The outbox: one event for one webhook, written in the transaction that made the event and
    sent (and retried with backoff) by the service's background loop until delivered or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index(None, "webhook_id", "created_at"), Index(None, "state", "next_at"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("dlv"))
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[float] = mapped_column(Double, default=db_now())
    last_status: Mapped[int | None] = mapped_column(Integer)  # the receiver's HTTP status
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double, default=db_now())
    delivered_at: Mapped[float | None] = mapped_column(Double)


class Schedule(Base):
    """A model's recurring batch scoring or retraining: a cron expression in a time zone, fired by
    the service's background loop once per tick (the guarded UPDATE of next_run_at)."""

    __tablename__ = "schedules"
    __table_args__ = (CheckConstraint("kind IN ('score', 'retrain')", name="kind"), Index(None, "paused", "next_run_at"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("sch"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    model_id: Mapped[str] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    cron: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(64))  # the alias (or version number) it scores or retrains
    dataset: Mapped[dict[str, Any]] = mapped_column(JsonDocument)  # {ref, format, delimiter}
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    next_run_at: Mapped[float] = mapped_column(Double)
    last_run_at: Mapped[float | None] = mapped_column(Double)
    last_run_id: Mapped[str | None] = mapped_column(String(40))
    runs: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Double, default=db_now())


class MonitorRun(Base):
    """One pass of a model's monitoring policy: scoring, its drift verdict, a retraining, the
    challenger's comparison with the champion on the same held-out rows and the decision."""

    __tablename__ = "monitor_runs"
    __table_args__ = (Index(None, "model_id", "created_at"), Index(None, "state"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("mrn"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    model_id: Mapped[str] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    schedule_id: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(24))
    champion_version: Mapped[int | None] = mapped_column(Integer)
    scoring_job_id: Mapped[str | None] = mapped_column(String(40))
    verdict: Mapped[str | None] = mapped_column(String(40))
    findings: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)  # drift, evaluation, triggers
    retrain_job_id: Mapped[str | None] = mapped_column(String(40))
    challenger_version: Mapped[int | None] = mapped_column(Integer)
    comparison_jobs: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)  # champion/challenger -> job id
    comparison: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    decision: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double, default=db_now())
    updated_at: Mapped[float] = mapped_column(Double, default=db_now(), onupdate=db_now())
    finished_at: Mapped[float | None] = mapped_column(Double)
