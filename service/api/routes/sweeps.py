"""Sweeps over Adam's hyperparameters and optimizer comparisons: parents of ordinary jobs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from adamant.store import sweeps as store_sweeps
from adamant.store.models import Sweep, SweepEvent, Trial
from adamant.store.states import TrialState
from service.api.deps import Caller, CallerDep, SessionDep
from service.api.schemas import iso
from service.sweeps import controller, search
from service.sweeps.comparison import comparison_table, comparison_trials, curves
from service.sweeps.requests import ComparisonRequest, SweepRequest

router = APIRouter(prefix="/v1", tags=["sweeps"])


def trial_view(trial: Trial) -> dict[str, Any]:
    return {
        "number": trial.number,
        "label": trial.label,
        "params": trial.params,
        "state": str(trial.state),
        "value": trial.value,
        "rungs": trial.rungs or {},
        "stopped_at_epoch": trial.stopped_at_epoch,
        "job_id": trial.job_id,
        "job": f"/v1/jobs/{trial.job_id}" if trial.job_id else None,
        "created_at": iso(trial.created_at),
    }


def event_view(event: SweepEvent) -> dict[str, Any]:
    return {
        "from_status": str(event.from_status) if event.from_status else None,
        "to_status": str(event.to_status),
        "at": iso(event.at),
        "reason": event.reason,
    }


def sweep_view(session, sweep: Sweep, *, detail: bool = True) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    request = controller.stored_request(sweep)
    metric, mode = controller.objective(request) if not isinstance(request, str) else (None, "max")
    trials = store_sweeps.trials(session, sweep.id)
    ranked = sorted((t for t in trials if t.value is not None), key=lambda t: t.value, reverse=(mode == "max"))
    best = next((t for t in trials if t.number == sweep.best_trial), None) or controller.best_trial(trials, mode)
    base = "sweeps" if sweep.kind == "sweep" else "comparisons"
    view: dict[str, Any] = {
        "id": sweep.id,
        "kind": sweep.kind,
        "name": sweep.name,
        "status": str(sweep.status),
        "metric": metric,
        "mode": mode,
        "total_trials": sweep.total_trials,
        "trials_started": len(trials),
        "counts": {str(state): sum(1 for t in trials if t.state == state) for state in TrialState},
        "best_trial": trial_view(best) if best else None,
        "created_at": iso(sweep.created_at),
        "finished_at": iso(sweep.finished_at),
        "error": sweep.error or (request if isinstance(request, str) else None),
        "links": {"self": f"/v1/{base}/{sweep.id}", "cancel": f"/v1/{base}/{sweep.id}/cancel"},
    }
    if detail:
        view["leaderboard"] = [trial_view(t) for t in ranked]
        view["trials"] = [trial_view(t) for t in trials]
        view["request"] = sweep.request
        view["history"] = [event_view(e) for e in store_sweeps.sweep_events(session, sweep.id)]
        if sweep.kind == "comparison":
            view["table"] = comparison_table(session, sweep, trials, request) if isinstance(request, ComparisonRequest) else []
            view["links"]["curves"] = f"/v1/comparisons/{sweep.id}/curves"
    return view


def _start(request: Request, caller: Caller, body: SweepRequest | ComparisonRequest, kind: str, response: Response) -> dict:
    state = request.app.state
    if isinstance(body, SweepRequest):
        total = search.total_trials(body)
    else:
        total = len(comparison_trials(body))
    with state.sessions() as session:
        controller.check_base(session, state.settings, caller, body)
        sweep = store_sweeps.create_sweep(session, caller.tenant_id, kind=kind, name=body.name,
                                          request=body.model_dump(mode="json"), total_trials=total)
    controller.advance(state.sessions, state.celery, state.settings, sweep.id)  # the first trials start now
    base = "sweeps" if kind == "sweep" else "comparisons"
    response.headers["Location"] = f"/v1/{base}/{sweep.id}"
    with state.sessions() as session:
        return sweep_view(session, store_sweeps.get_sweep(session, caller.tenant_id, sweep.id))


@router.post("/sweeps", status_code=status.HTTP_202_ACCEPTED)
def create_sweep(body: SweepRequest, caller: CallerDep, request: Request, response: Response) -> dict:
    """A search over Adam's hyperparameters (grid, random or TPE): child jobs are ordinary jobs;
    with `early_stopping: {"type": "asha"}` trials that fall behind stop at epoch rungs."""
    return _start(request, caller, body, "sweep", response)


@router.post("/comparisons", status_code=status.HTTP_202_ACCEPTED)
def create_comparison(body: ComparisonRequest, caller: CallerDep, request: Request, response: Response) -> dict:
    """The same spec under several optimizers (and seeds): a table of final and best metrics and
    time to a target, and overlaid curves."""
    return _start(request, caller, body, "comparison", response)


def _list(session, caller: Caller, kind: str, limit: int, cursor: str | None) -> dict:  # type: ignore[no-untyped-def]
    rows, next_cursor = store_sweeps.list_sweeps(session, caller.tenant_id, kind=kind, limit=limit, cursor=cursor)
    return {"items": [sweep_view(session, s, detail=False) for s in rows], "next_cursor": next_cursor}


@router.get("/sweeps")
def list_sweeps(caller: CallerDep, session: SessionDep, limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: str | None = None) -> dict:
    return _list(session, caller, "sweep", limit, cursor)


@router.get("/comparisons")
def list_comparisons(caller: CallerDep, session: SessionDep, limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: str | None = None) -> dict:
    return _list(session, caller, "comparison", limit, cursor)


@router.get("/sweeps/{sweep_id}")
def show_sweep(sweep_id: str, caller: CallerDep, session: SessionDep) -> dict:
    """Status, the best trial, the leaderboard and every trial in the order the search made them."""
    return sweep_view(session, store_sweeps.get_sweep(session, caller.tenant_id, sweep_id, kind="sweep"))


@router.get("/comparisons/{comparison_id}")
def show_comparison(comparison_id: str, caller: CallerDep, session: SessionDep) -> dict:
    """The comparison table (per optimizer, over its seeds) and its trials."""
    return sweep_view(session, store_sweeps.get_sweep(session, caller.tenant_id, comparison_id, kind="comparison"))


@router.get("/comparisons/{comparison_id}/curves")
def comparison_curves(comparison_id: str, caller: CallerDep, session: SessionDep, metric: str | None = None) -> dict:
    """Each trial's curve of `metric` (default: the task's), for overlaying optimizers."""
    sweep = store_sweeps.get_sweep(session, caller.tenant_id, comparison_id, kind="comparison")
    request = controller.stored_request(sweep)
    name = metric or (controller.objective(request)[0] if not isinstance(request, str) else "val_loss")
    return {"metric": name, "curves": curves(session, store_sweeps.trials(session, sweep.id), name)}


@router.post("/sweeps/{sweep_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
def cancel_sweep(sweep_id: str, caller: CallerDep, session: SessionDep) -> dict:
    """Cancel the sweep and every child job still queued or running."""
    store_sweeps.get_sweep(session, caller.tenant_id, sweep_id, kind="sweep")
    return sweep_view(session, controller.cancel(session, caller.tenant_id, sweep_id))


@router.post("/comparisons/{comparison_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
def cancel_comparison(comparison_id: str, caller: CallerDep, session: SessionDep) -> dict:
    store_sweeps.get_sweep(session, caller.tenant_id, comparison_id, kind="comparison")
    return sweep_view(session, controller.cancel(session, caller.tenant_id, comparison_id))
