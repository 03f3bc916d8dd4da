"""The errors business modules raise (domain errors, never HTTP problems) answer exactly as the
Problems those modules used to raise did: same status, title and type. Issue 10 (tidy): the API
layer maps them once, in service/api/problems.py."""

from __future__ import annotations

import pickle

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from adamant.exceptions import (
    AdamantError,
    ArtifactQuotaExceeded,
    ModelNotReady,
    NotAModel,
    NotAScoringJob,
    ScoringNotFinished,
    ScoringOutputGone,
)
from service.api import problems


def answer(error: Exception) -> tuple[int, dict[str, object], dict[str, str]]:
    app = FastAPI()
    problems.install(app)

    @app.post("/raise")
    def _raise() -> None:
        raise error

    reply = TestClient(app).post("/raise")
    return reply.status_code, reply.json(), dict(reply.headers)


def test_the_artifact_quota_at_submit_is_a_409_without_retry_after() -> None:
    status, body, headers = answer(ArtifactQuotaExceeded("keeps 1000 bytes; max_artifact_bytes is 900", usage=1000, quota=900))
    assert status == 409 and "retry-after" not in headers
    assert body["title"] == "Artifact quota exceeded" and str(body["type"]).endswith("/artifact-quota-exceeded")
    assert body["detail"] == "keeps 1000 bytes; max_artifact_bytes is 900"


@pytest.mark.parametrize(("error", "title", "kind"), [
    (NotAModel("job j is a score job; score with a training job"), "Not a trained model", "not-a-model"),
    (ModelNotReady("job j is running; batch scoring needs a training job that succeeded"), "Model not ready",
     "model-not-ready"),
    (ScoringNotFinished("scoring job j is queued; its files exist once it succeeded"), "Scoring not finished",
     "scoring-not-finished"),
    (ScoringOutputGone("the output file of scoring job j is no longer on disk"), "Scoring output gone",
     "scoring-output-gone"),
])
def test_a_job_of_the_wrong_kind_or_state_is_a_409_with_its_own_type(error: AdamantError, title: str, kind: str) -> None:
    status, body, _ = answer(error)
    assert status == 409 and body["title"] == title and body["type"] == problems.TYPE_BASE + kind
    assert body["detail"] == str(error)


def test_files_of_a_job_that_is_not_a_scoring_job_are_not_found() -> None:
    status, body, _ = answer(NotAScoringJob("job j is a train job, not a scoring job"))
    assert status == 404 and body["title"] == "Not found" and body["type"] == problems.TYPE_BASE + "not-found"


def test_the_new_errors_survive_a_trip_between_processes() -> None:
    refused = pickle.loads(pickle.dumps(ArtifactQuotaExceeded("over", usage=5, quota=4)))
    assert type(refused) is ArtifactQuotaExceeded and (refused.usage, refused.quota, str(refused)) == (5, 4, "over")
    assert type(pickle.loads(pickle.dumps(ModelNotReady("not yet")))) is ModelNotReady
