"""Settings, all from the environment, for every Adamant process (service, worker, trainer).

With nothing set, everything lives under ./var: a SQLite database, a filesystem broker (kombu's
`filesystem://` transport, no server), artifacts on local disk. Set DATABASE_URL (PostgreSQL),
BROKER_URL (Redis) and ADAMANT_ARTIFACTS (a shared folder) or ADAMANT_ARTIFACTS_URL (an fsspec
object store) to run as a cluster. The README lists every variable.
"""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, computed_field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "admin", "password"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ADAMANT_", extra="ignore", populate_by_name=True)

    home: Path = Field(Path("var"), description="Where the embedded defaults keep their files.")
    database_url_override: str | None = Field(None, validation_alias="DATABASE_URL")
    broker_url_override: str | None = Field(None, validation_alias="BROKER_URL")
    broker_prefix: str | None = Field(None, description="Key prefix in Redis, to share one Redis between deployments.")
    artifacts: Path | None = Field(None, description="Artifact root (datasets, checkpoints); default HOME/artifacts.")
    file_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list, description="Roots `file:` dataset references may name.")
    admin_key: str | None = Field(None, description="API key of the admin tenant (see all tenants' jobs).")
    local_user: bool = Field(True, description="Create a 'local' tenant and print its key on first start.")
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated CIDRs of reverse proxies whose X-Forwarded-For/Forwarded name the client (default: none).",
    )
    upload_max_bytes: int = Field(200 * 1024 * 1024, ge=1)
    # What an upload may unpack to: a small gzip CSV or Parquet file can hold billions of rows.
    upload_max_decompressed_bytes: int = Field(2 * 1024**3, ge=1, description="Bytes a gzip upload may decompress to.")
    upload_max_rows: int = Field(20_000_000, ge=1, description="Rows an uploaded table may have.")
    upload_max_columns: int = Field(2_000, ge=2, description="Columns an uploaded table may have.")
    default_max_datasets: int = Field(
        1_000, ge=0, description="Uploaded datasets a tenant may keep unless its own max_datasets says otherwise."
    )
    # What one job's model may be (adamant/model_size.py): checked at submit, in the dry run and by the worker.
    max_model_parameters: int = Field(200_000_000, ge=1, description="Trainable parameters one job's model may have.")
    max_training_memory_bytes: int = Field(
        64 * 1024**3, ge=1, description="Estimated training memory (weights, gradients, optimizer state, one batch's activations)."
    )
    lease_ttl_s: float = Field(30.0, gt=0)
    heartbeat_s: float = Field(5.0, gt=0)
    reaper_interval_s: float = Field(2.0, gt=0)
    dispatch_stale_s: float = Field(60.0, gt=0, description="Re-publish a queued job whose message is this old.")
    fork_jobs: bool = Field(
        True, description="Fork each job's process from a warm server (worker/job_process.py); false: a fresh interpreter."
    )
    webhook_allow_private: bool = Field(
        False, description="Let webhooks call private, loopback and link-local addresses (a trusted network only)."
    )
    cancel_grace_s: float = Field(30.0, gt=0, description="After this, a cancelling trainer is killed.")
    time_limit_grace_s: float = Field(60.0, gt=0)
    default_max_concurrent_jobs: int = Field(4, ge=1)
    poll_cache_s: float = Field(0.25, ge=0.0, le=5.0, description="How stale a status poll may be (service/api/snapshots.py).")
    max_streams_per_tenant: int = Field(
        10, ge=1, description="Event streams (SSE) a tenant may keep open per service process; one more answers 429."
    )
    migrate_on_start: bool = Field(True, description="Run database migrations when the service starts.")
    worker_name: str | None = None
    torch_threads: int | None = Field(None, ge=1, description="Intra-op threads per trainer; default: all cores / worker concurrency.")
    log_format: Literal["text", "json"] = Field("text", description="json: one JSON object per line, with job_id etc. (containers).")
    log_level: str = Field("INFO", description="Level of the root logger of the service, worker and trainer.")
    metrics_enabled: bool = Field(True, description="Serve Prometheus /metrics (service/prometheus.py).")
    metrics_token: str | None = Field(None, description="If set, /metrics needs `Authorization: Bearer <token>`.")
    artifacts_url: str | None = Field(
        None, description="fsspec URL of the artifact store (file:///..., s3://bucket/prefix); default: the local artifact root."
    )
    s3_endpoint_url: str | None = Field(
        None, description="Endpoint of an S3-compatible server (MinIO, Ceph...) for s3:// dataset references; default: AWS."
    )
    artifact_quota_bytes: int | None = Field(
        None, ge=0, description="Checkpoint bytes a tenant may keep unless its own max_artifact_bytes says otherwise; none: unlimited."
    )
    stream_from_rows: int = Field(
        20_000_000, ge=1,
        description="A training table of at least this many rows (Parquet; binary, multiclass, regression) is prepared by "
        "streaming: two passes over its record batches, its encoded rows on disk, training in shuffled blocks.",
    )
    prepared_cache_bytes: int = Field(
        20 * 1024**3, ge=0, description="Bytes of prepared (encoded) tables a worker keeps under HOME/cache/prepared; 0: off."
    )

    @field_validator("file_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            return [part for part in value.split(":") if part]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_networks(cls, value: object) -> object:
        # "10.0.0.5" means that one address; host bits in "10.0.0.5/8" are ignored, as proxies' docs write them.
        if isinstance(value, str):
            value = [part for part in value.replace(" ", ",").split(",") if part]
        if isinstance(value, list):
            return [ip_network(part, strict=False) if isinstance(part, str) else part for part in value]
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_admin_key(self) -> Settings:
        if self.admin_key is not None and (self.admin_key.strip().lower() in PLACEHOLDER_SECRETS or len(self.admin_key) < 16):
            raise ValueError("ADAMANT_ADMIN_KEY is a placeholder or shorter than 16 characters; set a real secret")
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def database_url(self) -> str:
        return self.database_url_override or f"sqlite:///{(self.home / 'adamant.db').absolute()}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def broker_url(self) -> str:
        return self.broker_url_override or "filesystem://"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def artifact_root(self) -> Path:
        return (self.artifacts or self.home / "artifacts").absolute()

    @property
    def embedded(self) -> bool:
        return self.database_url_override is None and self.broker_url_override is None

    @property
    def broker_folder(self) -> Path:
        return (self.home / "broker").absolute()

    def job_dir(self, job_id: str) -> Path:
        return self.artifact_root / "jobs" / job_id

    def dataset_dir(self, tenant_id: str, dataset_id: str) -> Path:
        return self.artifact_root / "datasets" / tenant_id / dataset_id


@lru_cache
def get_settings() -> Settings:
    return Settings()
