"""Score a few rows with a job's trained model (its saved preprocessing applied)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from adamant.artifacts import local_copy
from adamant.exceptions import CheckpointError, DatasetError
from adamant.settings import Settings
from adamant.store import checkpoints as store_checkpoints
from adamant.store import jobs as store_jobs
from adamant.store.models import Checkpoint
from service.api.deps import CallerDep, SessionDep, SettingsDep
from service.api.problems import Problem
from service.api.schemas import PredictRequest, PredictResponse
from service.predict import predict_rows, scorer_for

router = APIRouter(prefix="/v1/jobs/{job_id}", tags=["predict"])


@router.post("/predict", response_model=PredictResponse)
def predict(job_id: str, body: PredictRequest, caller: CallerDep, session: SessionDep, settings: SettingsDep, request: Request) -> PredictResponse:
    """Rows in (JSON objects with the training columns), one output per row out: `score`/`label`
    (classification), `prediction` (regression, ratings), `segment`, or the top-k items per user
    when rows carry only a user id."""
    store_jobs.get_job(session, caller.tenant_id, job_id)
    checkpoint = (
        store_checkpoints.best_checkpoint(session, job_id)
        if body.checkpoint == "best"
        else store_checkpoints.get_checkpoint(session, job_id, body.checkpoint)
    )
    if checkpoint is None:
        raise CheckpointError(f"job {job_id} has no checkpoint to predict with yet")
    predictions = predict_with(request, settings, checkpoint, body.rows, body.top_k)
    return PredictResponse(job_id=job_id, checkpoint_step=checkpoint.step, predictions=predictions)


def predict_with(request: Request, settings: Settings, checkpoint: Checkpoint, rows: list[dict[str, Any]],
                 top_k: int) -> list[dict[str, Any]]:
    """The rows scored by a checkpoint's model (its scorer cached by the app); a bad cell is a 422 naming it."""
    scorer = scorer_for(request.app.state.scorers, local_copy(settings, checkpoint.path), checkpoint.sha256)
    try:
        return predict_rows(scorer, rows, top_k)
    except DatasetError as exc:
        raise rows_problem(exc) from exc


def rows_problem(error: DatasetError) -> Problem:
    """A cell the model cannot take, named as the body names it: rows.N.column (rows count from 0
    here; the scorer's message counts them from 1, as in a table)."""
    path = "rows"
    if error.row is not None:
        path += f".{error.row - 1}"
    if error.column is not None:
        path += f".{error.column}"
    errors = [{"path": path, "message": str(error), "column": error.column, "row": error.row}]
    return Problem(422, "Invalid request", str(error), kind="validation-error", errors=errors)
