"""The model registry: a tenant's registered models, their versions and their aliases.

A version is a succeeded training job's checkpoint (its best unless another is named) with what
it was trained on and how it scored, copied from the job when registered. Version numbers count
from 1 per model and are never reused. An alias (`production`, `staging`, any name) points at one
version; it moves by a guarded UPDATE (with `expected`, only if it still points where the caller
saw it) and each move writes an alias_events row in the same transaction: who, when, from and to.
Rollback is moving the alias back. A version an alias points at cannot be deleted. Every read is
tenant-scoped: another tenant's model is NotFound, as a missing one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adamant.store.checkpoints import best_checkpoint, get_checkpoint
from adamant.store.db import translated_errors, write_transaction
from adamant.store.exceptions import AlreadyExists, NotFound, RegistryConflict
from adamant.store.jobs import get_job
from adamant.store.models import (
    AliasEvent,
    Checkpoint,
    Dataset,
    Job,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    json_safe,
)
from adamant.store.states import JobStatus
from adamant.store.webhooks import enqueue

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")  # a model's or an alias's name: safe in a URL path, no '@'
SELECTOR = re.compile(r"^(?P<name>[^@]+)(@(?P<which>[^@]+))?$")


@dataclass(frozen=True)
class Served:
    """The version a request is answered with, and the checkpoint that holds it."""

    model: RegisteredModel
    version: ModelVersion
    checkpoint: Checkpoint
    alias: str | None


def create_model(session: Session, tenant_id: str, name: str, task: str, description: str | None = None) -> RegisteredModel:
    with write_transaction(session):
        if session.scalars(select(RegisteredModel.id).where(RegisteredModel.tenant_id == tenant_id,
                                                            RegisteredModel.name == name)).first():
            raise AlreadyExists("model", name)
        model = RegisteredModel(tenant_id=tenant_id, name=name, task=task, description=description)
        session.add(model)
        try:
            session.flush()
        except IntegrityError:  # created by another request since the check
            raise AlreadyExists("model", name) from None
        return model


def get_model(session: Session, tenant_id: str, name: str, *, for_update: bool = False) -> RegisteredModel:
    query = select(RegisteredModel).where(RegisteredModel.tenant_id == tenant_id, RegisteredModel.name == name)
    if for_update:  # its version_seq is about to be taken
        query = query.with_for_update()
    with translated_errors():
        model = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if model is None:
        raise NotFound("model", name)
    return model


def list_models(session: Session, tenant_id: str) -> list[RegisteredModel]:
    query = select(RegisteredModel).where(RegisteredModel.tenant_id == tenant_id).order_by(RegisteredModel.name)
    with translated_errors():
        return list(session.scalars(query))


def register_version(
    session: Session, tenant_id: str, name: str, job_id: str, *, checkpoint_id: str | None = None,
    description: str | None = None, reuse_existing: bool = False,
) -> ModelVersion:
    """Register a succeeded training job's checkpoint (its best by default) as the model's next
    version. With `reuse_existing`, a version already registered from this job is returned instead
    (decided under the model's row lock: the monitoring loop's replicas register a retrain once)."""
    with write_transaction(session):
        model = get_model(session, tenant_id, name, for_update=True)
        if reuse_existing:
            existing = session.scalars(select(ModelVersion).where(ModelVersion.model_id == model.id,
                                                                  ModelVersion.job_id == job_id)).first()
            if existing is not None:
                return existing
        job = get_job(session, tenant_id, job_id)
        if job.kind != "train" or job.status != JobStatus.SUCCEEDED:
            raise RegistryConflict(f"job {job_id} is a {job.kind} job that is {job.status}; only a succeeded "
                                   "training job is registered", "job_id")
        task = job.spec.get("task")
        if task != model.task:
            raise RegistryConflict(f"job {job_id} trained {task}; model {name!r} is {model.task}", "job_id")
        checkpoint = best_checkpoint(session, job_id) if checkpoint_id is None else get_checkpoint(session, job_id, checkpoint_id)
        if checkpoint is None:
            raise RegistryConflict(f"job {job_id} has no checkpoint to register", "job_id")
        model.version_seq += 1
        version = ModelVersion(
            model_id=model.id, version=model.version_seq, job_id=job_id, checkpoint_id=checkpoint.id,
            checkpoint_step=checkpoint.step, manifest_sha256=checkpoint.sha256, spec=job.spec,
            dataset_ref=job.spec["dataset"]["ref"], dataset_sha256=_dataset_sha256(session, tenant_id, job),
            metrics=json_safe(checkpoint.metrics or job.best_metrics or {}), description=description,
        )
        session.add(version)
        session.flush()
        return version


def _dataset_sha256(session: Session, tenant_id: str, job: Job) -> str | None:
    """An upload's sha256 (dataset:<id>), else what the trainer recorded of the bytes it read
    (a file's sha256, or of a built-in table's or an object's identity); None if neither."""
    ref = str(job.spec["dataset"]["ref"])
    if ref.startswith("dataset:"):
        dataset = session.get(Dataset, ref.removeprefix("dataset:"))
        if dataset is not None and dataset.tenant_id == tenant_id:
            return dataset.sha256
    recorded = ((job.result or {}).get("summary") or {}).get("dataset") or {}
    return recorded.get("sha256")


def list_versions(session: Session, model: RegisteredModel) -> list[ModelVersion]:
    query = select(ModelVersion).where(ModelVersion.model_id == model.id).order_by(ModelVersion.version)
    with translated_errors():
        return list(session.scalars(query.execution_options(populate_existing=True)))


def get_version(session: Session, model: RegisteredModel, version: int) -> ModelVersion:
    with translated_errors():
        found = session.get(ModelVersion, (model.id, version), populate_existing=True)
    if found is None:
        raise NotFound("version", f"{model.name}@{version}")
    return found


def aliases(session: Session, model: RegisteredModel) -> dict[str, int]:
    query = select(ModelAlias.alias, ModelAlias.version).where(ModelAlias.model_id == model.id).order_by(ModelAlias.alias)
    with translated_errors():
        return {alias: version for alias, version in session.execute(query)}


def set_alias(
    session: Session, tenant_id: str, name: str, alias: str, version: int | None, *, actor: str,
    expected: int | None = None, check_expected: bool = False, reason: str | None = None,
) -> AliasEvent:
    """Point `alias` at `version` (None: remove it), recorded as an alias event. With
    `check_expected`, only if the alias still points at `expected` (None: it does not exist yet):
    RegistryConflict otherwise, so two people promoting at once cannot both win unseen."""
    with write_transaction(session):
        return move_alias(session, tenant_id, name, alias, version, actor=actor, expected=expected,
                          check_expected=check_expected, reason=reason)


def move_alias(
    session: Session, tenant_id: str, name: str, alias: str, version: int | None, *, actor: str,
    expected: int | None = None, check_expected: bool = False, reason: str | None = None,
) -> AliasEvent:
    """set_alias inside the caller's transaction (no commit): the monitoring loop moves an alias
    and records its decision atomically."""
    model = get_model(session, tenant_id, name)
    if version is not None:
        get_version(session, model, version)
    current = session.get(ModelAlias, (model.id, alias), with_for_update=True, populate_existing=True)
    before = current.version if current is not None else None
    if check_expected and before != expected:
        raise RegistryConflict(f"alias {alias!r} of {name!r} points at version {before}, not {expected}; "
                               "read it again and retry", "expected_version")
    if version is not None and version == before:  # already there: nothing moved, nothing to record or announce
        return AliasEvent(model_id=model.id, alias=alias, from_version=before, to_version=version, actor=actor,
                          reason="unchanged", at=current.updated_at if current is not None else None)
    if version is None:
        if current is None:
            raise NotFound("alias", f"{name}@{alias}")
        session.execute(delete(ModelAlias).where(ModelAlias.model_id == model.id, ModelAlias.alias == alias,
                                                 ModelAlias.version == before))
    elif current is None:
        session.add(ModelAlias(model_id=model.id, alias=alias, version=version))
    else:
        moved = session.execute(update(ModelAlias).where(ModelAlias.model_id == model.id, ModelAlias.alias == alias,
                                                         ModelAlias.version == before).values(version=version))
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise RegistryConflict(f"alias {alias!r} of {name!r} moved meanwhile; retry", "expected_version")
    event = AliasEvent(model_id=model.id, alias=alias, from_version=before, to_version=version, actor=actor, reason=reason)
    session.add(event)
    enqueue(session, tenant_id, "model.alias_moved", {"model": name, "alias": alias, "from_version": before,
                                                      "to_version": version, "actor": actor, "reason": reason})
    try:
        session.flush()
    except IntegrityError:  # the alias was created by another request since it was read
        raise RegistryConflict(f"alias {alias!r} of {name!r} was set meanwhile; retry", "expected_version") from None
    return event


def alias_events(session: Session, model: RegisteredModel, limit: int = 200) -> list[AliasEvent]:
    query = (select(AliasEvent).where(AliasEvent.model_id == model.id)
             .order_by(AliasEvent.at.desc(), AliasEvent.id.desc()).limit(limit))
    with translated_errors():
        return list(session.scalars(query))


def delete_version(session: Session, tenant_id: str, name: str, version: int) -> None:
    """Delete a version no alias points at (RegistryConflict naming the aliases otherwise)."""
    with write_transaction(session):
        model = get_model(session, tenant_id, name)
        found = get_version(session, model, version)
        pointing = [alias for alias, at in aliases(session, model).items() if at == version]
        if pointing:
            raise RegistryConflict(f"version {version} of {name!r} is in use by alias {', '.join(map(repr, pointing))}; "
                                   "move the alias first", "version")
        session.delete(found)


def resolve(session: Session, tenant_id: str, selector: str) -> Served:
    """`name`, `name@alias` or `name@<version>` to the version it names now; a bare name means its
    `production` alias."""
    match = SELECTOR.match(selector)
    if match is None:
        raise NotFound("model", selector)
    model = get_model(session, tenant_id, match["name"])
    which = match["which"] or "production"
    alias = None
    if which.isdigit():
        version = get_version(session, model, int(which))
    else:
        alias = which
        pointed = aliases(session, model).get(which)
        if pointed is None:
            raise NotFound("alias", f"{model.name}@{which}")
        version = get_version(session, model, pointed)
    with translated_errors():
        checkpoint = session.get(Checkpoint, version.checkpoint_id)
    if checkpoint is None or checkpoint.deleted_at is not None:
        raise RegistryConflict(f"the checkpoint of {model.name}@{version.version} is gone", "model")
    return Served(model, version, checkpoint, alias)
