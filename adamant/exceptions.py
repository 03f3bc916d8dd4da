"""Errors a user can act on, shared by the service, the worker and the CLI.

One root class; each subclass is one kind of failure and carries the fields a person needs
to fix it. Third-party errors are translated into these at the boundary that meets them.
"""

from __future__ import annotations


class AdamantError(Exception):
    """Root of every error this project raises on purpose."""

    kind: str = "error"

    def to_dict(self) -> dict[str, object]:
        return {"type": self.kind, "message": str(self)}


class SpecError(AdamantError):
    """A job spec that is well-formed JSON but cannot be trained as written."""

    kind = "spec_error"

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message

    def to_dict(self) -> dict[str, object]:
        return {"type": self.kind, "message": str(self), "path": self.path}


class StoredSpecInvalid(SpecError):
    """A job's stored spec that no longer validates (written before a rule it now breaks)."""

    kind = "spec_invalid"


class ModelTooLarge(SpecError):
    """A model past the deployment's size limits; names the fields that make it large and the estimate."""

    kind = "model_too_large"

    def __init__(self, message: str, *, fields: list[str], estimate: dict[str, int]) -> None:
        super().__init__(message, path=fields[0])
        self.fields = fields
        self.estimate = estimate

    def to_dict(self) -> dict[str, object]:
        return super().to_dict() | {"fields": self.fields, "estimate": self.estimate}


class DatasetError(AdamantError):
    """A dataset that cannot be read or does not fit the spec; names the column and row."""

    kind = "dataset_error"

    def __init__(self, message: str, *, column: str | None = None, row: int | None = None) -> None:
        where = []
        if column is not None:
            where.append(f"column {column!r}")
        if row is not None:
            where.append(f"row {row}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)
        self.column = column
        self.row = row
        self.reason = message

    def to_dict(self) -> dict[str, object]:
        return {"type": self.kind, "message": str(self), "column": self.column, "row": self.row}


class TrainingError(AdamantError):
    """Training could not go on for a reason in the user's hands (NaN loss, diverged)."""

    kind = "training_error"


class CheckpointError(AdamantError):
    """A checkpoint is missing, torn, or fails its sha256."""

    kind = "checkpoint_error"


class ArtifactQuotaExceeded(AdamantError):
    """A submit refused: the tenant's stored bytes are at its artifact quota with nothing left to reclaim."""

    kind = "artifact_quota_exceeded"

    def __init__(self, message: str, *, usage: int | None = None, quota: int | None = None) -> None:
        super().__init__(message)  # defaults only so that unpickling (args = the message) rebuilds it
        self.usage = usage
        self.quota = quota

    def to_dict(self) -> dict[str, object]:
        return {"type": self.kind, "message": str(self), "path": "max_artifact_bytes", "usage": self.usage,
                "limit": self.quota}


class JobNotUsable(AdamantError):
    """A job that exists but whose kind or state cannot serve this request (a conflict, not a missing job)."""

    kind = "job_not_usable"


class NotAModel(JobNotUsable):
    """Scoring asked of a job that is not a training job."""

    kind = "not_a_model"


class ModelNotReady(JobNotUsable):
    """Scoring asked of a training job that has not succeeded."""

    kind = "model_not_ready"


class ScoringNotFinished(JobNotUsable):
    """A scoring job's files asked for before it succeeded."""

    kind = "scoring_not_finished"


class ScoringOutputGone(JobNotUsable):
    """A succeeded scoring job's file that is no longer stored."""

    kind = "scoring_output_gone"


class NotAScoringJob(AdamantError):
    """A scoring job's files asked of a job of another kind (answered as not found)."""

    kind = "not_a_scoring_job"
