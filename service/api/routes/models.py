"""The model registry: registered models, versions from succeeded jobs, aliases moved with an audit
trail, and predictions by name (adamant/store/registry.py holds the rules)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status

from adamant.scoring.job_spec import ScoringRequest
from adamant.store import jobs as store_jobs
from adamant.store import registry
from adamant.store.models import AliasEvent, ModelVersion, RegisteredModel
from service.api.deps import CallerDep, CeleryDep, SessionDep, SettingsDep, presented_key
from service.api.routes.predict import predict_with
from service.api.schemas import (
    AliasEventOut,
    AliasIn,
    AliasName,
    JobOut,
    ModelDetail,
    ModelIn,
    ModelOut,
    ModelPredictRequest,
    ModelPredictResponse,
    ModelScoringRequest,
    VersionIn,
    VersionOut,
    iso,
)
from service.api.views import creation_event, job_view
from service.scoring_jobs import submit_scoring_job

router = APIRouter(prefix="/v1/models", tags=["models"])


def model_view(model: RegisteredModel, aliases: dict[str, int]) -> ModelOut:
    return ModelOut(name=model.name, task=model.task, description=model.description, aliases=aliases,
                    latest_version=model.version_seq or None, created_at=iso(model.created_at) or "")


def version_view(version: ModelVersion, aliases: dict[str, int]) -> VersionOut:
    return VersionOut(
        version=version.version, job_id=version.job_id, checkpoint_id=version.checkpoint_id,
        checkpoint_step=version.checkpoint_step, manifest_sha256=version.manifest_sha256, dataset_ref=version.dataset_ref,
        dataset_sha256=version.dataset_sha256, metrics=version.metrics, spec=version.spec, description=version.description,
        aliases=sorted(alias for alias, at in aliases.items() if at == version.version), created_at=iso(version.created_at) or "",
    )


def event_view(event: AliasEvent) -> AliasEventOut:
    return AliasEventOut(alias=event.alias, from_version=event.from_version, to_version=event.to_version,
                         actor=event.actor, reason=event.reason, at=iso(event.at) or "")


def actor_of(request: Request) -> str:
    """Who moved an alias, as the audit trail names them: the API key's first 8 characters."""
    key = presented_key(request.headers)
    return f"key:{key[:8]}" if key else "local user"


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ModelOut)
def create_model(body: ModelIn, caller: CallerDep, session: SessionDep, response: Response) -> ModelOut:
    model = registry.create_model(session, caller.tenant_id, body.name, body.task, body.description)
    response.headers["Location"] = f"/v1/models/{model.name}"
    return model_view(model, {})


@router.get("", response_model=list[ModelOut])
def list_models(caller: CallerDep, session: SessionDep) -> list[ModelOut]:
    return [model_view(model, registry.aliases(session, model)) for model in registry.list_models(session, caller.tenant_id)]


@router.get("/{name}", response_model=ModelDetail)
def show_model(name: str, caller: CallerDep, session: SessionDep) -> ModelDetail:
    """The model with every version (newest last), its metrics and the aliases pointing at it."""
    model = registry.get_model(session, caller.tenant_id, name)
    aliases = registry.aliases(session, model)
    versions = [version_view(version, aliases) for version in registry.list_versions(session, model)]
    return ModelDetail(**model_view(model, aliases).model_dump(), versions=versions)


@router.post("/{name}/versions", status_code=status.HTTP_201_CREATED, response_model=VersionOut)
def register_version(name: str, body: VersionIn, caller: CallerDep, session: SessionDep, response: Response) -> VersionOut:
    """Register a succeeded training job's checkpoint (its best unless `checkpoint_id`) as the next version."""
    version = registry.register_version(session, caller.tenant_id, name, body.job_id, checkpoint_id=body.checkpoint_id,
                                        description=body.description)
    response.headers["Location"] = f"/v1/models/{name}/versions/{version.version}"
    return version_view(version, {})


@router.get("/{name}/versions/{version}", response_model=VersionOut)
def show_version(name: str, version: int, caller: CallerDep, session: SessionDep) -> VersionOut:
    model = registry.get_model(session, caller.tenant_id, name)
    return version_view(registry.get_version(session, model, version), registry.aliases(session, model))


@router.delete("/{name}/versions/{version}", status_code=status.HTTP_204_NO_CONTENT)
def delete_version(name: str, version: int, caller: CallerDep, session: SessionDep) -> Response:
    """Delete a version; 409 while an alias points at it (its job and checkpoint stay)."""
    registry.delete_version(session, caller.tenant_id, name, version)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{name}/aliases/{alias}", response_model=AliasEventOut)
def set_alias(name: str, alias: AliasName, body: AliasIn, caller: CallerDep, session: SessionDep, request: Request) -> AliasEventOut:
    """Point the alias at a version, at once for every predict by name; recorded in the model's
    alias history. `expected_version` (or `expect_new`) makes it a compare-and-set: 409 if the
    alias moved since it was read. Rollback is this call with the earlier version."""
    guarded = body.expected_version is not None or body.expect_new
    event = registry.set_alias(session, caller.tenant_id, name, alias, body.version, actor=actor_of(request),
                               expected=body.expected_version, check_expected=guarded, reason=body.reason)
    return event_view(event)


@router.delete("/{name}/aliases/{alias}", response_model=AliasEventOut)
def delete_alias(name: str, alias: AliasName, caller: CallerDep, session: SessionDep, request: Request) -> AliasEventOut:
    return event_view(registry.set_alias(session, caller.tenant_id, name, alias, None, actor=actor_of(request)))


@router.get("/{name}/aliases/history", response_model=list[AliasEventOut])
def alias_history(name: str, caller: CallerDep, session: SessionDep,
                  limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[AliasEventOut]:
    """The newest `limit` moves of the model's aliases, newest first: who, when, from which version to which."""
    model = registry.get_model(session, caller.tenant_id, name)
    return [event_view(event) for event in registry.alias_events(session, model, limit)]


@router.post("/{name}/predict", response_model=ModelPredictResponse)
def predict(name: str, body: ModelPredictRequest, caller: CallerDep, session: SessionDep, settings: SettingsDep,
            request: Request) -> ModelPredictResponse:
    """Score rows with the version `version` names now (an alias, `production` by default, or a
    number); the answer says which version it used."""
    served = registry.resolve(session, caller.tenant_id, f"{name}@{body.version}")
    predictions = predict_with(request, settings, served.checkpoint, body.rows, body.top_k)
    return ModelPredictResponse(model=served.model.name, version=served.version.version, alias=served.alias,
                                job_id=served.version.job_id, checkpoint_step=served.checkpoint.step, predictions=predictions)


@router.post("/{name}/predictions", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
def score_table(
    name: str, body: ModelScoringRequest, caller: CallerDep, session: SessionDep, settings: SettingsDep, celery: CeleryDep,
    response: Response, idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> JobOut:
    """Batch scoring by name: a scoring job of the version `version` names now (`production` by
    default), as POST /v1/jobs/{id}/predictions with that version's job and checkpoint."""
    served = registry.resolve(session, caller.tenant_id, f"{name}@{body.version}")
    request = ScoringRequest(**{**body.model_dump(exclude={"version"}), "checkpoint": served.checkpoint.id,
                                "name": body.name or f"score {served.model.name}@{served.version.version}"})
    job, created = submit_scoring_job(session, celery, settings, caller, served.version.job_id, request,
                                      idempotency_key=idempotency_key)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
        return job_view(job, store_jobs.job_events(session, job.id))
    return job_view(job, [creation_event(job)])
