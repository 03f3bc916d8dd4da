"""Driving sweeps and comparisons: called by the service's background loop every few seconds.

One step of one sweep (`advance`): take the sweep's controller lease, bring each trial's state
up to date from its job (a trial that ASHA stopped is `pruned`: its own trainer judged its
rungs as it wrote them, adamant.store.sweeps.judge_rungs), submit new trials up to the
parallelism, and finish the sweep when every trial has ended. Everything it decides is written to the
trials table before it acts (a trial row before its job, an idempotency key per trial), so a
controller that dies mid-step is simply replaced by the next step, anywhere.

A sweep's status and a trial's state move only as the tables in adamant.store.states allow
(adamant.store.sweeps refuses the rest with InvalidTransition). The one race those refusals
settle here is the user's cancel against a step: whichever ends the sweep (or a trial) first
wins, and the other's move is refused and let go.
"""

from __future__ import annotations

import logging
import time

from celery import Celery
from pydantic import ValidationError
from sqlalchemy.orm import Session

from adamant.exceptions import AdamantError, SpecError
from adamant.settings import Settings
from adamant.spec import JobSpec
from adamant.store import jobs as store_jobs
from adamant.store import sweeps as store_sweeps
from adamant.store import tenants as store_tenants
from adamant.store.exceptions import InvalidTransition, LimitExceeded, StoreUnavailable
from adamant.store.models import Sweep, Trial
from adamant.store.states import JobStatus, SweepStatus, TrialState
from service.caller import Caller
from service.submission import check_dataset_ref, check_limits, check_model_size_at_submit, submit
from service.sweeps import search
from service.sweeps.comparison import comparison_trials
from service.sweeps.requests import ComparisonRequest, SweepRequest

log = logging.getLogger("adamant.sweeps")
HOLD_S = 60.0
JOB_TERMINAL = {
    JobStatus.SUCCEEDED: TrialState.COMPLETE, JobStatus.FAILED: TrialState.FAILED, JobStatus.CANCELLED: TrialState.CANCELLED,
}
CONCURRENCY = "max_concurrent_jobs"  # the one tenant limit that clears by waiting


def parse(sweep: Sweep) -> SweepRequest | ComparisonRequest:
    return SweepRequest.model_validate(sweep.request) if sweep.kind == "sweep" else ComparisonRequest.model_validate(sweep.request)


def stored_request(sweep: Sweep) -> SweepRequest | ComparisonRequest | str:
    """The sweep's stored request, or why it no longer validates (a row written before a rule it
    breaks, such as an Infinity stored as null): reads show the sweep, the controller fails it."""
    try:
        return parse(sweep)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"the stored request no longer validates: {where}: {first['msg']}"


def objective(request: SweepRequest | ComparisonRequest) -> tuple[str, str]:
    if isinstance(request, SweepRequest):
        return request.objective
    return request.base.monitor


def advance_all(sessions, celery: Celery, settings: Settings) -> int:  # type: ignore[no-untyped-def]
    with sessions() as session:
        running = [s.id for s in store_sweeps.running_sweeps(session)]
    for sweep_id in running:
        try:
            advance(sessions, celery, settings, sweep_id)
        except Exception as exc:  # one broken sweep must not stop the others
            log.warning("sweep %s: step failed: %s", sweep_id, exc)
    return len(running)


def advance(sessions, celery: Celery, settings: Settings, sweep_id: str) -> None:  # type: ignore[no-untyped-def]
    with sessions() as session:
        if not store_sweeps.take_controller(session, sweep_id, HOLD_S):
            return
        try:
            _step(session, celery, settings, session.get(Sweep, sweep_id, populate_existing=True))
        finally:
            store_sweeps.release_controller(session, sweep_id)


def _step(session: Session, celery: Celery, settings: Settings, sweep: Sweep) -> None:
    request = stored_request(sweep)
    if isinstance(request, str):  # waiting will not make it valid: fail it once, as a job's spec_invalid
        _cancel_children(session, sweep.tenant_id, sweep)
        if _finish(session, sweep, SweepStatus.FAILED, best_trial=None, error=request):
            log.warning("sweep %s: %s", sweep.id, request)
        return
    metric, mode = objective(request)
    tenant = store_tenants.get_tenant(session, sweep.tenant_id)
    caller = Caller.of(tenant)
    trials = store_sweeps.trials(session, sweep.id)

    for trial in trials:
        if trial.state == TrialState.RUNNING and trial.job_id:
            _refresh(session, sweep, trial, metric)
    trials = store_sweeps.trials(session, sweep.id)

    try:
        _start_trials(session, celery, settings, caller, sweep, request, trials)
    except TrialRefused as refused:
        _fail_refused(session, sweep, refused, mode)
        return

    trials = store_sweeps.trials(session, sweep.id)
    if len(trials) >= sweep.total_trials and all(t.state != TrialState.RUNNING for t in trials):
        best = best_trial(trials, mode)
        if best is not None:
            _finish(session, sweep, SweepStatus.SUCCEEDED, best_trial=best.number,
                    reason=f"every trial ended; trial {best.number} is the best")
        else:
            _finish(session, sweep, SweepStatus.FAILED, best_trial=None, error="no trial completed")


def _finish(session: Session, sweep: Sweep, status: SweepStatus, *, best_trial: int | None, error: str | None = None,
            reason: str | None = None) -> bool:
    """End the sweep as `status`; False when it had ended already (a cancel came first: it wins)."""
    try:
        store_sweeps.finish_sweep(session, sweep.id, status, best_trial=best_trial, error=error, reason=reason)
    except InvalidTransition as refused:
        log.info("sweep %s: not marked %s: %s", sweep.id, status, refused)
        return False
    return True


def _move_trial(session: Session, sweep: Sweep, number: int, to: TrialState, **values: object) -> bool:
    """Move a trial to `to`; False when it had ended already (the sweep's cancel ended it first)."""
    try:
        store_sweeps.move_trial(session, sweep.id, number, to, **values)
    except InvalidTransition as refused:
        log.info("sweep %s trial %s: not marked %s: %s", sweep.id, number, to, refused)
        return False
    return True


def _start_trials(session: Session, celery: Celery, settings: Settings, caller: Caller, sweep: Sweep,
                  request: SweepRequest | ComparisonRequest, trials: list[Trial]) -> None:
    # Trials recorded but never submitted (a controller died in between) go first.
    for trial in trials:
        if trial.job_id is None and trial.state == TrialState.RUNNING:
            _submit_trial(session, celery, settings, caller, sweep, request, trial)
    active = sum(1 for t in trials if t.state == TrialState.RUNNING)
    planned = comparison_trials(request) if isinstance(request, ComparisonRequest) else None
    while active < request.parallelism and len(trials) < sweep.total_trials:
        number = len(trials)
        if planned is not None:
            label, params = planned[number]
        else:  # a grid's combination is computed from its number; random and TPE propose
            ended = (TrialState.COMPLETE, TrialState.PRUNED)
            finished = [(t.params, t.value, t.state) for t in trials if t.state in ended]
            label, params = None, search.propose(request, number, finished)  # type: ignore[arg-type]
        trial = store_sweeps.record_trial(session, sweep.id, number, params=params, label=label)
        if not _submit_trial(session, celery, settings, caller, sweep, request, trial):
            break
        trials = store_sweeps.trials(session, sweep.id)
        active += 1


class TrialRefused(Exception):
    """The service refused a trial's job for a reason waiting will not change (a tenant limit,
    the dataset, the storage quota): the sweep fails with it instead of retrying every step."""

    def __init__(self, number: int, cause: AdamantError) -> None:
        super().__init__(f"trial {number} was refused: {cause}")
        self.number = number
        self.cause = cause


def _fail_refused(session: Session, sweep: Sweep, refused: TrialRefused, mode: str) -> None:
    _move_trial(session, sweep, refused.number, TrialState.FAILED)
    _cancel_children(session, sweep.tenant_id, sweep)  # the others would run for a sweep that has ended
    best = best_trial(store_sweeps.trials(session, sweep.id), mode)
    if _finish(session, sweep, SweepStatus.FAILED, best_trial=best.number if best else None, error=str(refused)):
        log.warning("sweep %s: %s", sweep.id, refused)


def check_base(session: Session, settings: Settings, caller: Caller, request: SweepRequest | ComparisonRequest) -> None:
    """Refuse a sweep whose base spec no trial could be submitted with (the tenant's limits,
    the dataset reference) before it exists: a 422 naming the field under `base`."""
    try:
        check_dataset_ref(session, settings, caller.tenant_id, request.base)
        check_limits(session, caller.tenant_id, request.base, max_epochs=caller.max_epochs, max_run_time_s=caller.max_run_time_s)
        check_model_size_at_submit(session, settings, caller.tenant_id, request.base)
    except SpecError as exc:
        raise SpecError(exc.reason, path=f"base.{exc.path}" if exc.path else "base") from exc


def _child_spec(request: SweepRequest | ComparisonRequest, sweep: Sweep, trial: Trial) -> JobSpec:
    base = request.base.model_dump(mode="json")
    spec = search.apply(base, trial.params)
    label = trial.label or f"trial {trial.number}"
    spec["name"] = f"{sweep.name or sweep.id} · {label}"
    if isinstance(request, SweepRequest) and request.early_stopping is not None:
        spec["training"]["eval_every_epochs"] = 1  # rungs need a value every epoch
    return JobSpec.model_validate(spec)


def _submit_trial(session: Session, celery: Celery, settings: Settings, caller: Caller, sweep: Sweep,
                  request: SweepRequest | ComparisonRequest, trial: Trial) -> bool:
    try:
        spec = _child_spec(request, sweep, trial)
    except Exception as exc:  # a sampled value the spec refuses: the trial fails, the sweep goes on
        if _move_trial(session, sweep, trial.number, TrialState.FAILED):
            log.warning("sweep %s trial %s: invalid configuration: %s", sweep.id, trial.number, exc)
        return True
    try:
        job, _ = submit(session, celery, settings, caller, spec, idempotency_key=f"{sweep.id}:trial:{trial.number}")
    except LimitExceeded as exc:
        if exc.limit == CONCURRENCY:
            return False  # the tenant is at its concurrency cap: a job that ends frees a slot for the next step
        raise TrialRefused(trial.number, exc) from exc
    except StoreUnavailable:
        raise  # the database is restarting: the next step tries again
    except AdamantError as exc:  # SpecError, DatasetError, QuotaExceeded, IdempotencyConflict: the same next time
        raise TrialRefused(trial.number, exc) from exc
    store_sweeps.update_trial(session, sweep.id, trial.number, job_id=job.id)
    return True


def _refresh(session: Session, sweep: Sweep, trial: Trial, metric: str) -> None:
    job = store_jobs.get_job_any_tenant(session, trial.job_id)
    best = (job.best_metrics or {}).get(metric)
    value = trial.value if best is None else float(best)
    state = JOB_TERMINAL.get(job.status)
    if state == TrialState.CANCELLED and trial.stopped_at_epoch is not None:
        state = TrialState.PRUNED
    if state is None:
        if value != trial.value:
            store_sweeps.update_trial(session, sweep.id, trial.number, value=value)
        return
    _move_trial(session, sweep, trial.number, state, value=value)


def best_trial(trials: list[Trial], mode: str) -> Trial | None:
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if not done:
        return None
    return max(done, key=lambda t: t.value) if mode == "max" else min(done, key=lambda t: t.value)


def cancel(session: Session, tenant_id: str, sweep_id: str, wait_s: float = 10.0) -> Sweep:
    """Cancel a sweep and every child still queued or running.

    It holds the controller lease while it does, so a controller step cannot interleave (finish
    the sweep as failed once the children read cancelled, or submit one more trial). Should a
    step still be running when the wait ends, the first to end the sweep wins: a sweep that has
    ended is an InvalidTransition here (409), and the step's finish is refused after a cancel."""
    sweep = store_sweeps.get_sweep(session, tenant_id, sweep_id)
    deadline = time.monotonic() + wait_s
    while not store_sweeps.take_controller(session, sweep.id, HOLD_S):
        if store_sweeps.get_sweep(session, tenant_id, sweep_id).status != SweepStatus.RUNNING or time.monotonic() > deadline:
            break  # finished already (finish_sweep answers 409), or a controller died holding it
        time.sleep(0.05)
    try:
        _cancel_children(session, tenant_id, sweep)
        store_sweeps.finish_sweep(session, sweep.id, SweepStatus.CANCELLED, reason="cancelled by the user")
    finally:
        store_sweeps.release_controller(session, sweep.id)
    return store_sweeps.get_sweep(session, tenant_id, sweep_id)


def _cancel_children(session: Session, tenant_id: str, sweep: Sweep) -> None:
    for trial in store_sweeps.trials(session, sweep.id):
        if trial.state == TrialState.RUNNING:
            if trial.job_id:
                try:
                    store_jobs.request_cancel(session, tenant_id, trial.job_id)
                except InvalidTransition:
                    pass
            _move_trial(session, sweep, trial.number, TrialState.CANCELLED)
