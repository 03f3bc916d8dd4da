"""Models in production: a model's monitoring policy, its schedules and its monitoring runs
(service/model_monitor.py drives them; adamant/monitoring/policy.py decides)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from adamant.exceptions import SpecError
from adamant.monitoring.policy import TASKS, Policy
from adamant.store import monitor_runs as store_runs
from adamant.store import registry
from adamant.store import schedules as store_schedules
from adamant.store.db import write_transaction
from adamant.store.exceptions import RegistryConflict
from adamant.store.models import MonitorRun, RegisteredModel, Schedule
from adamant.store.schedules import ScheduleError
from service.api.deps import CallerDep, SessionDep, SettingsDep
from service.api.routes.models import actor_of
from service.api.schemas import (
    ApprovalIn,
    MonitorRunIn,
    MonitorRunOut,
    PolicyIn,
    PolicyOut,
    ScheduleIn,
    ScheduleOut,
    SchedulePatch,
    iso,
)
from service.model_monitor import approve
from service.submission import check_dataset_ref

router = APIRouter(tags=["models in production"])


def schedule_view(schedule: Schedule, model_name: str) -> ScheduleOut:
    return ScheduleOut(id=schedule.id, model=model_name, kind=schedule.kind, cron=schedule.cron, timezone=schedule.timezone,
                       target=schedule.target, dataset=schedule.dataset, paused=schedule.paused,
                       next_run_at=None if schedule.paused else iso(schedule.next_run_at),
                       last_run_at=iso(schedule.last_run_at), last_run_id=schedule.last_run_id, runs=schedule.runs,
                       created_at=iso(schedule.created_at) or "")


def run_view(run: MonitorRun, model_name: str) -> MonitorRunOut:
    findings = run.findings or {}
    return MonitorRunOut(id=run.id, model=model_name, schedule_id=run.schedule_id, kind=findings.get("kind", "score"),
                         target=findings.get("target", ""), dataset=findings.get("dataset") or {}, state=run.state,
                         champion_version=run.champion_version, challenger_version=run.challenger_version,
                         scoring_job_id=run.scoring_job_id, retrain_job_id=run.retrain_job_id,
                         comparison_jobs=run.comparison_jobs or {}, verdict=run.verdict, findings=run.findings or {},
                         comparison=run.comparison, decision=run.decision, created_at=iso(run.created_at) or "",
                         finished_at=iso(run.finished_at))




@router.put("/v1/models/{name}/policy", response_model=PolicyOut)
def set_policy(name: str, body: PolicyIn, caller: CallerDep, session: SessionDep) -> PolicyOut:
    """The model's monitoring policy: what a scheduled scoring's drift verdict (or metric drop on
    labelled rows) triggers, and when a retrained challenger replaces the champion."""
    with write_transaction(session):
        model = registry.get_model(session, caller.tenant_id, name, for_update=True)
        if model.task not in TASKS:
            raise SpecError(f"a {model.task} model has no metric to compare a challenger on; policies are for "
                            f"{', '.join(TASKS)} models", path="name")
        model.policy = body.model_dump(mode="json")
    return PolicyOut(**Policy.from_dict(model.policy).to_dict())


@router.get("/v1/models/{name}/policy", response_model=PolicyOut)
def show_policy(name: str, caller: CallerDep, session: SessionDep) -> PolicyOut:
    """The policy in force (the defaults until one is set)."""
    return PolicyOut(**Policy.from_dict(registry.get_model(session, caller.tenant_id, name).policy).to_dict())


@router.post("/v1/models/{name}/schedules", status_code=status.HTTP_201_CREATED, response_model=ScheduleOut)
def create_schedule(name: str, body: ScheduleIn, caller: CallerDep, session: SessionDep, settings: SettingsDep,
                    response: Response) -> ScheduleOut:
    """A recurring scoring (then the policy) or retraining of the model, fired once per tick of
    `cron` in `timezone` by the service; a tick missed while the service was down runs once."""
    check_dataset_ref(session, settings, caller.tenant_id, body)  # type: ignore[arg-type]  # reads .dataset.ref only
    try:
        schedule = store_schedules.create_schedule(
            session, caller.tenant_id, name, kind=body.kind, cron=body.cron, timezone=body.timezone, target=body.target,
            dataset=body.dataset.model_dump(mode="json"))
    except ScheduleError as exc:
        raise SpecError(str(exc), path=exc.field) from exc
    response.headers["Location"] = f"/v1/schedules/{schedule.id}"
    return schedule_view(schedule, name)


@router.get("/v1/models/{name}/schedules", response_model=list[ScheduleOut])
def list_model_schedules(name: str, caller: CallerDep, session: SessionDep) -> list[ScheduleOut]:
    model = registry.get_model(session, caller.tenant_id, name)
    return [schedule_view(schedule, name) for schedule in store_schedules.list_schedules(session, caller.tenant_id, model)]


@router.get("/v1/schedules", response_model=list[ScheduleOut])
def list_schedules(caller: CallerDep, session: SessionDep) -> list[ScheduleOut]:
    """Every schedule of the tenant, with its next run time (none while paused)."""
    names = {model.id: model.name for model in registry.list_models(session, caller.tenant_id)}
    return [schedule_view(schedule, names.get(schedule.model_id, ""))
            for schedule in store_schedules.list_schedules(session, caller.tenant_id)]


@router.patch("/v1/schedules/{schedule_id}", response_model=ScheduleOut)
def pause_or_resume(schedule_id: str, body: SchedulePatch, caller: CallerDep, session: SessionDep) -> ScheduleOut:
    """Pause, or resume from the next tick after now (ticks missed while paused are not run)."""
    schedule = store_schedules.set_paused(session, caller.tenant_id, schedule_id, body.paused)
    model = session.get(RegisteredModel, schedule.model_id)
    return schedule_view(schedule, model.name if model is not None else "")


@router.delete("/v1/schedules/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_schedule(schedule_id: str, caller: CallerDep, session: SessionDep) -> Response:
    store_schedules.delete_schedule(session, caller.tenant_id, schedule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/v1/models/{name}/monitor-runs", status_code=status.HTTP_202_ACCEPTED, response_model=MonitorRunOut)
def start_run(name: str, body: MonitorRunIn, caller: CallerDep, session: SessionDep, settings: SettingsDep,
              response: Response) -> MonitorRunOut:
    """Run the policy now, as a schedule's tick would: score `dataset` with `target` (or retrain)."""
    model = registry.get_model(session, caller.tenant_id, name)
    check_dataset_ref(session, settings, caller.tenant_id, body)  # type: ignore[arg-type]  # reads .dataset.ref only
    registry.resolve(session, caller.tenant_id, f"{name}@{body.target}")  # 404 now rather than a failed run later
    run = store_runs.create_run(session, model, kind=body.kind, target=body.target, dataset=body.dataset.model_dump(mode="json"))
    response.headers["Location"] = f"/v1/models/{name}/monitor-runs/{run.id}"
    return run_view(run, name)


@router.get("/v1/models/{name}/monitor-runs", response_model=list[MonitorRunOut])
def list_runs(name: str, caller: CallerDep, session: SessionDep,
              limit: Annotated[int, Query(ge=1, le=2000)] = 100) -> list[MonitorRunOut]:
    """The model's newest `limit` monitoring runs, newest first: verdicts, retrainings, comparisons,
    decisions (a nightly schedule's year is 365)."""
    model = registry.get_model(session, caller.tenant_id, name)
    return [run_view(run, name) for run in store_runs.list_runs(session, model, limit)]


@router.get("/v1/models/{name}/monitor-runs/{run_id}", response_model=MonitorRunOut)
def show_run(name: str, run_id: str, caller: CallerDep, session: SessionDep) -> MonitorRunOut:
    return run_view(_run_of(session, caller.tenant_id, name, run_id)[1], name)


@router.post("/v1/models/{name}/monitor-runs/{run_id}/approve", response_model=MonitorRunOut)
def approve_run(name: str, run_id: str, body: ApprovalIn, caller: CallerDep, session: SessionDep,
                request: Request) -> MonitorRunOut:
    """Promote (approve: true) or keep as a candidate (false) the challenger of a run awaiting approval."""
    model, run = _run_of(session, caller.tenant_id, name, run_id)
    if run.state != "awaiting_approval" or not approve(session, run, model, actor=actor_of(request), approved=body.approve):
        raise RegistryConflict(f"monitoring run {run_id} is {run.state}, not awaiting approval", "approve")
    return run_view(store_runs.get_run(session, run_id), name)


def _run_of(session: SessionDep, tenant_id: str, name: str, run_id: str) -> tuple[RegisteredModel, MonitorRun]:
    model = registry.get_model(session, tenant_id, name)
    run = store_runs.get_run(session, run_id, tenant_id)
    if run.model_id != model.id:
        raise store_runs.NotFound("monitor run", run_id)
    return model, run
