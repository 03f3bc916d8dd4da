"""Response bodies of the API (pydantic at the edge). Requests reuse adamant.spec.JobSpec."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from adamant.datasets.resolve import normalise_object_prefix
from adamant.exceptions import DatasetError
from adamant.scoring.job_spec import ScoringDataset, ScoringRequest
from adamant.spec import CellValue, Float, Int, Task


def iso(value: Any) -> str | None:
    """Timestamps leave as ISO 8601 UTC, whatever the store keeps (epoch seconds or datetime)."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(float(value), tz=timezone.utc)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataProgressOut(Out):
    """Reading and preparing the table, before training starts; kept as it ended once training reports."""

    phase: str = Field(description="reading | preparing | ready | from cache")
    rows_read: int = 0
    rows_total: int | None = Field(None, description="Parquet: exact; CSV and text: estimated from its lines while it is read")
    rows_per_s: float | None = None
    eta_s: float | None = None


class ProgressOut(Out):
    step: int = 0
    total_steps: int | None = None
    epoch: float = 0.0
    total_epochs: int | None = None
    fraction: float = 0.0
    samples_per_s: float | None = None
    steps_per_s: float | None = None
    eta_s: float | None = None
    elapsed_s: float | None = None
    data: DataProgressOut | None = Field(None, description="The data phase: rows read, rows/s, ETA")


class ErrorOut(Out):
    type: str
    message: str
    failure_class: str | None = Field(None, description="user: fix the spec or data; infrastructure: retried up to max_restarts")
    column: str | None = None
    row: int | None = None
    path: str | None = None


class EventOut(Out):
    seq: int
    from_status: str | None
    to_status: str
    at: str | None
    reason: str | None = None
    attempt: int | None = None


class JobOut(Out):
    id: str
    name: str | None
    kind: str
    task: str
    status: str
    phase: str | None
    queue: str
    priority: int
    attempt: int
    max_restarts: int
    device: str | None
    worker: str | None
    progress: ProgressOut
    best_metrics: dict[str, float | None]
    last_metrics: dict[str, float | None]
    result: dict[str, Any] | None
    error: ErrorOut | None
    cancel_requested: bool
    created_at: str | None
    queued_at: str | None
    started_at: str | None
    finished_at: str | None
    updated_at: str | None
    parent_id: str | None = None
    history: list[EventOut] = Field(default_factory=list)
    spec: dict[str, Any]
    links: dict[str, str]


class JobList(Out):
    jobs: list[JobOut]
    next_cursor: str | None


class MetricPointOut(Out):
    seq: int
    step: int
    epoch: float | None
    name: str
    value: float | None
    time: float | None


class MetricsPage(Out):
    points: list[MetricPointOut]
    next_cursor: int
    job_status: str


class DownsampledMetrics(Out):
    series: dict[str, list[MetricPointOut]]
    max_points: int
    job_status: str


class LogLineOut(Out):
    seq: int
    time: float | None
    level: str
    message: str


class LogsPage(Out):
    lines: list[LogLineOut]
    next_cursor: int


class CheckpointOut(Out):
    id: str
    step: int
    epoch: float | None
    sha256: str
    size_bytes: int
    metrics: dict[str, float | None]
    is_best: bool
    created_at: str | None
    files: dict[str, dict[str, Any]] = Field(default_factory=dict)
    download: str


class CheckpointList(Out):
    checkpoints: list[CheckpointOut]


class DatasetOut(Out):
    id: str
    name: str
    ref: str
    format: str | None
    size_bytes: int
    sha256: str
    rows: int | None
    created_at: str | None
    schema_: dict[str, Any] | None = Field(None, alias="schema", serialization_alias="schema")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DatasetList(Out):
    datasets: list[DatasetOut]
    next_cursor: str | None


class BuiltinDatasetOut(Out):
    name: str
    ref: str
    title: str
    description: str
    task: str | None
    target: str | None
    drop: list[str]
    id_column: str | None
    rows: int | None
    licence: str
    source: str
    citation: str | None = None


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Each cell one JSON scalar a float64 can hold: a list, an object, NaN or 10**400 is a 422 naming rows.N.column.
    rows: list[dict[str, CellValue]] = Field(..., min_length=1, max_length=10_000)
    top_k: Int = Field(10, ge=1, le=1000)
    checkpoint: str = Field("best", description="'best' or a checkpoint id")


class PredictResponse(Out):
    job_id: str
    checkpoint_step: int
    predictions: list[dict[str, Any]]


class ValidationReport(Out):
    valid: bool
    dataset: dict[str, Any]
    estimate: dict[str, Any]
    warnings: list[str]


# A tenant's limits, the same bounds whether set at creation or changed later.
ConcurrentJobs = Annotated[Int, Field(ge=1, le=1000)]
Epochs = Annotated[Int, Field(ge=1, le=100_000)]
RunTime = Annotated[Int, Field(ge=60, le=30 * 24 * 3600)]
ArtifactBytes = Annotated[Int, Field(ge=0)]
Datasets = Annotated[Int, Field(ge=0, le=1_000_000)]


def _object_prefix(prefix: str) -> str:
    try:
        return normalise_object_prefix(prefix)
    except DatasetError as error:
        raise ValueError(error.reason) from None


def _distinct(prefixes: list[str]) -> list[str]:
    return list(dict.fromkeys(prefixes))


ObjectPrefix = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_object_prefix)]
ObjectPrefixes = Annotated[
    list[ObjectPrefix],
    Field(max_length=100, description='object-store prefixes its dataset references may name ("s3://acme/exports/"); '
                                      "each is normalised to end at a '/'"),
    AfterValidator(_distinct),
]


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    max_concurrent_jobs: ConcurrentJobs | None = Field(None, description="queued + running; default ADAMANT_DEFAULT_MAX_CONCURRENT_JOBS")
    max_epochs: Epochs = Field(1000, description="the most epochs one job may ask for")
    max_run_time_s: RunTime = Field(24 * 3600, description="the longest one job may run")
    max_artifact_bytes: ArtifactBytes | None = Field(
        None,
        description="bytes kept (checkpoints, uploads, scoring outputs); default ADAMANT_ARTIFACT_QUOTA_BYTES (none: unlimited)",
    )
    max_datasets: Datasets | None = Field(None, description="uploaded datasets kept; default ADAMANT_DEFAULT_MAX_DATASETS")
    dataset_prefixes: ObjectPrefixes = Field(default_factory=list)


class TenantLimits(BaseModel):
    """The limits to change; fields left out stay as they are (max_artifact_bytes null: the default)."""

    model_config = ConfigDict(extra="forbid")
    max_concurrent_jobs: ConcurrentJobs | None = None
    max_epochs: Epochs | None = None
    max_run_time_s: RunTime | None = None
    max_artifact_bytes: ArtifactBytes | None = None
    max_datasets: Datasets | None = None
    dataset_prefixes: ObjectPrefixes | None = Field(None, description="replaces the list; [] allows none")


class TenantOut(Out):
    tenant_id: str
    name: str
    max_concurrent_jobs: int
    max_epochs: int
    max_run_time_s: int
    max_artifact_bytes: int | None
    max_datasets: int | None
    dataset_prefixes: list[str] = Field(default_factory=list, description="object-store prefixes its datasets may name")

    @classmethod
    def of(cls, tenant: Any, **extra: Any) -> Any:
        return cls(tenant_id=tenant.id, name=tenant.name, max_concurrent_jobs=tenant.max_concurrent_jobs,
                   max_epochs=tenant.max_epochs, max_run_time_s=tenant.max_run_time_s,
                   max_artifact_bytes=tenant.max_artifact_bytes, max_datasets=tenant.max_datasets,
                   dataset_prefixes=list(tenant.dataset_prefixes or []), **extra)


class TenantCreated(TenantOut):
    api_key: str = Field(..., description="Shown once; store it now.")


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("default", min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$",
                      description="to tell keys apart (where it is used); no control characters")


class ApiKeyRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grace_s: Float = Field(0.0, ge=0, le=7 * 24 * 3600, allow_inf_nan=False,
                           description="how long the old key keeps working (0: it stops now)")


class ApiKeyOut(Out):
    id: str
    name: str
    prefix: str = Field(..., description="the key's first 8 characters")
    created_at: str | None
    revoked_at: str | None = Field(None, description="when the key stopped (or, after a rotation with grace, stops) working")
    last_used_at: str | None = Field(None, description="when the key was last used, to within a minute or so")

    @classmethod
    def of(cls, key: Any, **extra: Any) -> Any:
        return cls(id=key.id, name=key.name, prefix=key.prefix, created_at=iso(key.created_at),
                   revoked_at=iso(key.revoked_at), last_used_at=iso(key.last_used_at), **extra)


class ApiKeyList(Out):
    keys: list[ApiKeyOut]


class ApiKeyCreated(ApiKeyOut):
    api_key: str = Field(..., description="Shown once; store it now.")


# The model registry (service/api/routes/models.py).
ModelName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$",
                                 description="lower-case letters, digits, '_', '.', '-'; at most 100")]
AliasName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$",
                                 description="starts with a letter (a number names a version); at most 64")]


class ModelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ModelName
    task: Task
    description: str | None = Field(None, max_length=2000)


class VersionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: str = Field(..., max_length=40)
    checkpoint_id: str | None = Field(None, max_length=40, description="default: the job's best checkpoint")
    description: str | None = Field(None, max_length=2000)


class AliasIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Int = Field(..., ge=1)
    expected_version: Int | None = Field(None, ge=1, description="move only if the alias points here now "
                                         "(omit it for an unconditional move)")
    expect_new: StrictBool = Field(False, description="create only: refuse if the alias exists")
    reason: str | None = Field(None, max_length=2000)


class VersionOut(Out):
    version: int
    job_id: str
    checkpoint_id: str
    checkpoint_step: int
    manifest_sha256: str
    dataset_ref: str
    dataset_sha256: str | None
    metrics: dict[str, Any]
    spec: dict[str, Any]
    description: str | None
    aliases: list[str]
    created_at: str


class ModelOut(Out):
    name: str
    task: str
    description: str | None
    aliases: dict[str, int]
    latest_version: int | None
    created_at: str


class ModelDetail(ModelOut):
    versions: list[VersionOut]


class AliasEventOut(Out):
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str | None
    at: str


class ModelPredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[dict[str, CellValue]] = Field(..., min_length=1, max_length=10_000)
    top_k: Int = Field(10, ge=1, le=1000)
    version: str = Field("production", pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$",
                         description="an alias, or a version number")


class ModelPredictResponse(Out):
    model: str
    version: int
    alias: str | None
    job_id: str
    checkpoint_step: int
    predictions: list[dict[str, Any]]


VersionSelector = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", description="an alias, or a version number")]


class ModelScoringRequest(ScoringRequest):
    """Batch scoring by name: the table scored with the version `version` names now."""

    version: VersionSelector = "production"


class PolicyIn(BaseModel):
    """A model's monitoring policy (adamant/monitoring/policy.py): when a scheduled scoring
    triggers a retraining, and when the retrained challenger replaces the champion."""

    model_config = ConfigDict(extra="forbid")
    alias: AliasName = Field("production", description="the champion's alias, watched and promoted")
    retrain_on: Literal["retrain recommended", "monitor", "never"] = Field(
        "retrain recommended", description="the drift verdict of a scheduled scoring that triggers a retraining")
    max_metric_drop: Float | None = Field(None, ge=0, description="on labelled rows: retrain when the metric "
                                          "(AUC, accuracy, RMSE) is worse than the champion's validation value by more than this")
    retrain_dataset: ScoringDataset | None = Field(None, description="the newest data to retrain on; default: the scored table")
    margin: Float = Field(0.0, ge=0, le=1, description="how much better on the same held-out rows a challenger must be")
    approval: Literal["auto", "manual"] = Field("auto", description="manual: a winning challenger waits for "
                                                "POST /v1/models/{name}/monitor-runs/{id}/approve")


class PolicyOut(Out):
    alias: str
    retrain_on: str
    max_metric_drop: float | None
    retrain_dataset: dict[str, Any] | None
    margin: float
    approval: str


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["score", "retrain"] = Field("score", description="score: a scoring with the policy after it; "
                                              "retrain: a retraining, compared and promoted as the policy says")
    cron: str = Field(..., min_length=9, max_length=100, examples=["0 2 * * *"],
                      description="five fields: minute hour day-of-month month day-of-week")
    timezone: str = Field("UTC", min_length=1, max_length=64, examples=["Europe/Paris"])
    target: VersionSelector = Field("production", description="the alias (or version) it scores or retrains")
    dataset: ScoringDataset


class ScheduleOut(Out):
    id: str
    model: str
    kind: str
    cron: str
    timezone: str
    target: str
    dataset: dict[str, Any]
    paused: bool
    next_run_at: str | None
    last_run_at: str | None
    last_run_id: str | None
    runs: int
    created_at: str


class SchedulePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paused: StrictBool


class MonitorRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["score", "retrain"] = "score"
    target: VersionSelector = "production"
    dataset: ScoringDataset


class MonitorRunOut(Out):
    id: str
    model: str
    schedule_id: str | None
    kind: str  # score: a scoring, then the policy; retrain: straight to a retraining
    target: str  # the alias (or version) it scored or retrained
    dataset: dict[str, Any]  # the table it scored (or retrained on)
    state: str
    champion_version: int | None
    challenger_version: int | None
    scoring_job_id: str | None
    retrain_job_id: str | None
    comparison_jobs: dict[str, str]
    verdict: str | None
    findings: dict[str, Any]
    comparison: dict[str, Any] | None
    decision: str | None
    created_at: str
    finished_at: str | None


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approve: StrictBool


WebhookEvent = Literal["job.finished", "model.alias_moved", "model.drift", "model.decision", "*"]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(..., min_length=8, max_length=2000, examples=["https://crm.example.com/hooks/adamant"])
    events: list[WebhookEvent] = Field(["*"], min_length=1, max_length=10)


class WebhookOut(Out):
    id: str
    url: str
    events: list[str]
    secret: str | None = Field(None, description="shown once, when the webhook is created: verify Adamant-Signature with it")
    created_at: str


class DeliveryOut(Out):
    id: str
    event: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_at: str | None
    created_at: str
    delivered_at: str | None
    payload: dict[str, Any]
