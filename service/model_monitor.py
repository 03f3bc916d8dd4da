"""The monitoring loop: fire due schedules, then move every open monitoring run one step.

Run by the service's background loop (service/reaper.py) every few seconds, in every API
replica: a schedule's tick is fired once (adamant/store/schedules.py) and each step of a run is
a guarded state move (adamant/store/monitor_runs.py), the jobs it submits keyed by the run's id.

    due        -> submit the scoring job of the watched alias's version (or, for a retraining
                  schedule, the retraining job) -> scoring | retraining
    scoring    -> its job done: drift verdict and evaluation against the policy; a
                  "model.drift" webhook -> retraining (a job from the champion's spec on the
                  newest data) | stable
    retraining -> its job done: registered as the challenger; both versions scored on the
                  challenger's validation rows -> comparing
    comparing  -> both done: compared (adamant/monitoring/policy.py) -> promoted (the alias
                  moved, compare-and-set from the champion) | awaiting_approval | candidate;
                  a "model.decision" webhook
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from pydantic import ValidationError
from sqlalchemy.orm import Session

from adamant.exceptions import AdamantError
from adamant.monitoring.policy import Comparison, Policy, compare, retrain_reasons
from adamant.scoring.job_spec import ScoringDataset, ScoringRequest
from adamant.settings import Settings
from adamant.spec import JobSpec
from adamant.store import jobs as store_jobs
from adamant.store import monitor_runs as runs
from adamant.store import registry
from adamant.store.exceptions import RegistryConflict, StoreError
from adamant.store.models import ModelVersion, MonitorRun, RegisteredModel
from adamant.store.schedules import fire_due
from adamant.store.states import TERMINAL, JobStatus
from adamant.store.tenants import get_tenant
from adamant.store.webhooks import enqueue
from service.caller import Caller
from service.scoring_jobs import submit_scoring_job
from service.submission import submit

log = logging.getLogger("adamant.monitor")
POLICY_ACTOR = "policy"


def advance_all(sessions, celery: Celery, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    with sessions() as session:
        for run in fire_due(session):
            log.info("schedule %s fired: monitoring run %s", run.schedule_id, run.id)
        open_ids = runs.open_runs(session)
    for run_id in open_ids:
        with sessions() as session:
            try:
                advance(session, celery, settings, run_id)
            except Exception:  # one run's trouble (a database hiccup) must not stall the others
                log.exception("monitoring run %s: step failed; retried next pass", run_id)


def advance(session: Session, celery: Celery, settings: Settings, run_id: str) -> str:
    """Take the run's next step if it is ready; returns its state after."""
    run = runs.get_run(session, run_id)
    model = session.get(RegisteredModel, run.model_id, populate_existing=True)
    assert model is not None  # a model's runs are deleted with it
    step = {"due": _start, "scoring": _after_scoring, "retraining": _after_retraining, "comparing": _after_comparing}
    try:
        step[run.state](session, celery, settings, run, model)
    except (AdamantError, StoreError, ValidationError, KeyError) as exc:  # the run cannot go on: say why
        reason = f"{type(exc).__name__}: {exc}"
        log.warning("monitoring run %s failed in %s: %s", run.id, run.state, reason)
        runs.move(session, run.id, run.state, "failed", decision=reason, also=_announce(run, model, "failed", reason))
    return runs.get_run(session, run_id).state


def _start(session: Session, celery: Celery, settings: Settings, run: MonitorRun, model: RegisteredModel) -> None:
    kind, dataset = run.findings["kind"], run.findings["dataset"]
    served = registry.resolve(session, model.tenant_id, f"{model.name}@{run.findings['target']}")
    caller = Caller.of(get_tenant(session, model.tenant_id))
    if kind == "retrain":
        job = _submit_retrain(session, celery, settings, caller, run, model, served.version, dataset)
        runs.move(session, run.id, "due", "retraining", champion_version=served.version.version, retrain_job_id=job.id)
        return
    request = ScoringRequest(dataset=ScoringDataset(**dataset), checkpoint=served.checkpoint.id,
                             name=f"{model.name}@{run.findings['target']}: monitoring run {run.id}")
    job, _ = submit_scoring_job(session, celery, settings, caller, served.version.job_id, request,
                                idempotency_key=f"{run.id}-score")
    runs.move(session, run.id, "due", "scoring", champion_version=served.version.version, scoring_job_id=job.id)


def _after_scoring(session: Session, celery: Celery, settings: Settings, run: MonitorRun, model: RegisteredModel) -> None:
    job = _succeeded(session, model, run.scoring_job_id, "the scoring job")
    if job is None:
        return
    policy = Policy.from_dict(model.policy)
    champion = registry.get_version(session, model, int(run.champion_version or 0))
    drift, evaluation = job.result.get("drift"), job.result.get("evaluation")
    reasons = retrain_reasons(policy, model.task, drift, evaluation, champion.metrics)
    verdict = drift["verdict"] if drift else None
    findings = {**run.findings, "drift": drift, "evaluation": evaluation, "retrain_reasons": reasons}
    event = {"model": model.name, "version": champion.version, "alias": run.findings["target"], "run_id": run.id,
             "scoring_job_id": job.id, "verdict": verdict, "drift": drift, "evaluation": evaluation,
             "retrain": bool(reasons), "reasons": reasons}

    def announce(session: Session) -> None:
        enqueue(session, model.tenant_id, "model.drift", event)

    if not reasons:
        runs.move(session, run.id, "scoring", "stable", verdict=verdict, findings=findings, also=announce,
                  decision="no retraining: " + (f"drift verdict {verdict!r}" if verdict else "no drift report"))
        return
    dataset = policy.retrain_dataset or run.findings["dataset"]
    caller = Caller.of(get_tenant(session, model.tenant_id))
    retrain = _submit_retrain(session, celery, settings, caller, run, model, champion, dataset)
    runs.move(session, run.id, "scoring", "retraining", verdict=verdict, findings=findings, also=announce,
              retrain_job_id=retrain.id)


def _after_retraining(session: Session, celery: Celery, settings: Settings, run: MonitorRun, model: RegisteredModel) -> None:
    job = _succeeded(session, model, run.retrain_job_id, "the retraining job")
    if job is None:
        return
    challenger = registry.register_version(session, model.tenant_id, model.name, job.id, reuse_existing=True,
                                           description=f"challenger retrained by monitoring run {run.id}")
    champion = registry.get_version(session, model, int(run.champion_version or 0))
    caller = Caller.of(get_tenant(session, model.tenant_id))
    jobs = {}
    for role, version in (("champion", champion), ("challenger", challenger)):
        request = ScoringRequest(dataset=ScoringDataset(**_dataset_of(job.spec)), checkpoint=version.checkpoint_id,
                                 holdout_of=job.id, name=f"{model.name}@{version.version} ({role}): monitoring run {run.id}")
        scoring, _ = submit_scoring_job(session, celery, settings, caller, version.job_id, request,
                                        idempotency_key=f"{run.id}-{role}")
        jobs[role] = scoring.id
    runs.move(session, run.id, "retraining", "comparing", challenger_version=challenger.version, comparison_jobs=jobs)


def _after_comparing(session: Session, celery: Celery, settings: Settings, run: MonitorRun, model: RegisteredModel) -> None:
    done = {role: _succeeded(session, model, job_id, f"the {role}'s scoring job") for role, job_id in run.comparison_jobs.items()}
    if any(job is None for job in done.values()):
        return
    policy = Policy.from_dict(model.policy)
    try:
        comparison = compare(policy, model.task, done["champion"].result["evaluation"] or {},
                             done["challenger"].result["evaluation"] or {})
    except ValueError as exc:
        raise _JobFailed(str(exc)) from exc
    decide(session, run, model, policy, comparison)


def decide(session: Session, run: MonitorRun, model: RegisteredModel, policy: Policy, comparison: Comparison) -> str:
    """Promote the winning challenger (or hold it for approval), else keep it as a candidate."""
    champion, challenger = int(run.champion_version or 0), int(run.challenger_version or 0)
    summary = (f"{comparison.metric} {comparison.challenger:.4f} (v{challenger}) vs {comparison.champion:.4f} "
               f"(v{champion}) on the same {comparison.rows:,} held-out rows; margin {comparison.margin}")
    if comparison.challenger_wins and policy.approval == "auto":
        state, decision = "promoted", f"promoted: {summary}"
    elif comparison.challenger_wins:
        state, decision = "awaiting_approval", f"awaiting approval: {summary}"
    else:
        state, decision = "candidate", f"kept as a candidate, not better by the margin: {summary}"

    def record(session: Session) -> None:
        if state == "promoted":
            registry.move_alias(session, model.tenant_id, model.name, policy.alias, challenger, actor=POLICY_ACTOR,
                                expected=champion, check_expected=True, reason=f"monitoring run {run.id}: {summary}")
        version = session.get(ModelVersion, (model.id, challenger))
        if version is not None:
            version.description = f"challenger of monitoring run {run.id}: {decision}"
        _announce(run, model, state, decision, comparison=vars(comparison))(session)

    try:
        runs.move(session, run.id, "comparing", state, comparison=vars(comparison), decision=decision, also=record)
    except RegistryConflict as exc:  # the alias moved since the run read it: a person decided meanwhile
        state, decision = "candidate", f"not promoted: {exc}; {summary}"
        runs.move(session, run.id, "comparing", state, comparison=vars(comparison), decision=decision,
                  also=_announce(run, model, state, decision, comparison=vars(comparison)))
    return state


def approve(session: Session, run: MonitorRun, model: RegisteredModel, *, actor: str, approved: bool) -> bool:
    """A person's answer to a run awaiting approval: promote its challenger, or keep it a candidate."""
    policy = Policy.from_dict(model.policy)
    decision = f"{'approved' if approved else 'rejected'} by {actor}; {run.decision or ''}"
    state = "promoted" if approved else "candidate"

    def record(session: Session) -> None:
        if approved:
            registry.move_alias(session, model.tenant_id, model.name, policy.alias, run.challenger_version,
                                actor=actor, expected=run.champion_version, check_expected=True,
                                reason=f"monitoring run {run.id} approved")
        _announce(run, model, state, decision, comparison=run.comparison)(session)

    return runs.move(session, run.id, "awaiting_approval", state, decision=decision, also=record)


class _JobFailed(AdamantError):
    kind = "monitoring_job_failed"


def _succeeded(session: Session, model: RegisteredModel, job_id: str | None, what: str):  # type: ignore[no-untyped-def]
    """The job once it succeeded; None while it runs; _JobFailed (the run fails) if it ended otherwise."""
    job = store_jobs.get_job(session, model.tenant_id, str(job_id))
    if job.status not in TERMINAL:
        return None
    if job.status != JobStatus.SUCCEEDED:
        raise _JobFailed(f"{what} {job.id} {job.status}: {(job.error or {}).get('message')}")
    return job


def _dataset_of(spec: dict[str, Any]) -> dict[str, Any]:
    dataset = spec["dataset"]
    return {"ref": dataset["ref"], "format": dataset.get("format", "auto"), "delimiter": dataset.get("delimiter")}


def _submit_retrain(session: Session, celery: Celery, settings: Settings, caller: Caller, run: MonitorRun,
                    model: RegisteredModel, champion: ModelVersion, dataset: dict[str, Any]):  # type: ignore[no-untyped-def]
    """A training job from the champion's own spec, on the newest data."""
    spec = dict(champion.spec)
    spec["dataset"] = {**spec["dataset"], **{k: v for k, v in dataset.items() if v is not None}}
    spec["name"] = f"{model.name} retrained: monitoring run {run.id}"
    job, _ = submit(session, celery, settings, caller, JobSpec.model_validate(spec), idempotency_key=f"{run.id}-retrain")
    return job


def _announce(run: MonitorRun, model: RegisteredModel, state: str, decision: str, **extra: Any):  # type: ignore[no-untyped-def]
    def announce(session: Session) -> None:
        enqueue(session, model.tenant_id, "model.decision", {
            "model": model.name, "run_id": run.id, "state": state, "decision": decision, "alias": Policy.from_dict(model.policy).alias,
            "champion_version": run.champion_version, "challenger_version": run.challenger_version, **extra,
        })
    return announce
