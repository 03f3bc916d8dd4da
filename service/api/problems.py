"""Errors as RFC 9457 problem details, mapped once at the edge.

Every error the API returns is `application/problem+json` with `type`, `title`, `status`,
`detail`, and for validation errors `errors: [{path, message}]` naming each bad field, so a
client (or the dashboard's spec editor) can point at the field.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from adamant.exceptions import (
    AdamantError,
    ArtifactQuotaExceeded,
    CheckpointError,
    DatasetError,
    JobNotUsable,
    ModelNotReady,
    ModelTooLarge,
    NotAModel,
    NotAScoringJob,
    ScoringNotFinished,
    ScoringOutputGone,
    SpecError,
)
from adamant.store.exceptions import (
    AlreadyExists,
    IdempotencyConflict,
    InvalidCursor,
    InvalidTransition,
    LastKey,
    LimitExceeded,
    NotFound,
    RegistryConflict,
    StoreUnavailable,
)
from adamant.store.usage import QuotaExceeded

PROBLEM = "application/problem+json"
# The spec field a tenant limit holds back (the limit's own name where none does).
LIMITED_FIELDS = {"max_epochs": "training.epochs"}
TYPE_BASE = "https://adamant.dev/problems/"
# A job of the wrong kind or state for the request: each a 409 with its own title.
JOB_NOT_USABLE_TITLES: dict[type[JobNotUsable], str] = {
    NotAModel: "Not a trained model",
    ModelNotReady: "Model not ready",
    ScoringNotFinished: "Scoring not finished",
    ScoringOutputGone: "Scoring output gone",
}


class Problem(Exception):
    """An error to answer with: status, a short title and the detail a person can act on."""

    def __init__(self, status: int, title: str, detail: str = "", *, kind: str | None = None,
                 errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
                 extensions: dict[str, Any] | None = None) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail
        self.kind = kind or title.lower().replace(" ", "-")
        self.errors = errors
        self.headers = headers
        self.extensions = extensions  # RFC 9457 extension members (e.g. a model-size estimate)


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + problem.kind,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.url.path,
    }
    if problem.errors is not None:
        body["errors"] = problem.errors
    if problem.extensions:
        body.update({key: value for key, value in problem.extensions.items() if key not in body})
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM, headers=problem.headers)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method any route of this path accepts (Starlette's 405 lists only one route's)."""
    methods: set[str] = set()
    for route in app.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path) and getattr(route, "methods", None):
            methods |= set(route.methods)
    return sorted(methods)


def field_errors(errors: list[dict[str, Any]], drop_prefix: tuple[str, ...] = ("body",)) -> list[dict[str, Any]]:
    """Pydantic's errors as [{path: "optimizer.lr", message: ...}]."""
    out = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        while loc and loc[0] in drop_prefix:
            loc = loc[1:]
        # Discriminated unions add the tag to the path ("model.mlp.hidden"): keep the user's path.
        out.append({"path": ".".join(loc), "message": error.get("msg", "invalid"), "type": error.get("type", "")})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(list(exc.errors()))
        detail = "; ".join(f"{e['path'] or '(body)'}: {e['message']}" for e in errors)
        return problem_response(request, Problem(422, "Invalid request", detail, kind="validation-error", errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized"}.get(exc.status_code, "Error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(app, request.url.path))
        return problem_response(request, Problem(exc.status_code, title, str(exc.detail), headers=headers))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return problem_response(request, Problem(404, "Not found", str(exc)))

    @app.exception_handler(InvalidTransition)
    async def _conflict(request: Request, exc: InvalidTransition) -> JSONResponse:
        return problem_response(request, Problem(409, "Conflict", str(exc), kind="invalid-transition"))

    @app.exception_handler(AlreadyExists)
    async def _exists(request: Request, exc: AlreadyExists) -> JSONResponse:
        errors = [{"path": "name", "message": str(exc)}]
        return problem_response(request, Problem(409, "Already exists", str(exc), kind="already-exists", errors=errors))

    @app.exception_handler(RegistryConflict)
    async def _registry(request: Request, exc: RegistryConflict) -> JSONResponse:
        errors = [{"path": exc.path, "message": str(exc)}]
        return problem_response(request, Problem(409, "Conflict", str(exc), kind="registry-conflict", errors=errors))

    @app.exception_handler(IdempotencyConflict)
    async def _idempotency(request: Request, exc: IdempotencyConflict) -> JSONResponse:
        return problem_response(request, Problem(422, "Idempotency-Key reused", str(exc), kind="idempotency-conflict"))

    @app.exception_handler(InvalidCursor)
    async def _cursor(request: Request, exc: InvalidCursor) -> JSONResponse:
        errors = [{"path": "query.cursor", "message": str(exc)}]
        return problem_response(request, Problem(422, "Invalid request", str(exc), kind="validation-error", errors=errors))

    @app.exception_handler(LastKey)
    async def _last_key(request: Request, exc: LastKey) -> JSONResponse:
        errors = [{"path": "key_id", "message": str(exc)}]
        return problem_response(request, Problem(409, "Last key", f"{exc}: create another key first, or revoke with ?force=true",
                                                 kind="last-key", errors=errors))

    @app.exception_handler(LimitExceeded)
    async def _limit(request: Request, exc: LimitExceeded) -> JSONResponse:
        if exc.limit == "max_concurrent_jobs":
            # A concurrency cap clears when a job ends: tell clients to come back, not to hammer.
            return problem_response(request, Problem(429, "Limit exceeded", str(exc), kind="limit-exceeded",
                                                     headers={"Retry-After": "5"}))
        # Any other cap (max_epochs) is the same on every retry: a 422 naming the field, no Retry-After.
        errors = [{"path": LIMITED_FIELDS.get(exc.limit, exc.limit), "message": str(exc)}]
        return problem_response(request, Problem(422, "Limit exceeded", str(exc), kind="limit-exceeded", errors=errors))

    @app.exception_handler(QuotaExceeded)
    async def _quota(request: Request, exc: QuotaExceeded) -> JSONResponse:
        # A permanent limit: deleting something or a larger limit lets it through, waiting does not (no 429).
        errors = [{"path": exc.limit, "message": str(exc), "usage": exc.usage, "limit": exc.cap}]
        return problem_response(request, Problem(409, "Quota exceeded", str(exc), kind="quota-exceeded", errors=errors))

    @app.exception_handler(StoreUnavailable)
    async def _unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        # The database is down or busy: the request may succeed later, unchanged (not the client's fault).
        return problem_response(request, Problem(503, "Service unavailable", str(exc), kind="store-unavailable",
                                                 headers={"Retry-After": "5"}))

    @app.exception_handler(AdamantError)
    async def _adamant(request: Request, exc: AdamantError) -> JSONResponse:
        if isinstance(exc, DatasetError):
            errors = [{"path": "dataset", "message": str(exc), "column": exc.column, "row": exc.row}]
            return problem_response(request, Problem(422, "Invalid dataset", str(exc), kind="dataset-error", errors=errors))
        if isinstance(exc, ModelTooLarge):
            errors = [{"path": field, "message": exc.reason} for field in exc.fields]
            return problem_response(request, Problem(422, "Model too large", exc.reason, kind="model-too-large", errors=errors,
                                                     extensions={"estimate": exc.estimate}))
        if isinstance(exc, SpecError):
            errors = [{"path": exc.path, "message": exc.reason}]
            return problem_response(request, Problem(422, "Invalid spec", str(exc), kind="spec-error", errors=errors))
        if isinstance(exc, CheckpointError):
            return problem_response(request, Problem(409, "Checkpoint unavailable", str(exc), kind="checkpoint-error"))
        if isinstance(exc, ArtifactQuotaExceeded):
            # Permanent until something is deleted or the quota raised: a 409, never a 429 to retry.
            return problem_response(request, Problem(409, "Artifact quota exceeded", str(exc), kind="artifact-quota-exceeded"))
        if isinstance(exc, JobNotUsable):
            title = JOB_NOT_USABLE_TITLES.get(type(exc), "Conflict")
            return problem_response(request, Problem(409, title, str(exc), kind=exc.kind.replace("_", "-")))
        if isinstance(exc, NotAScoringJob):
            return problem_response(request, Problem(404, "Not found", str(exc)))
        return problem_response(request, Problem(400, "Bad request", str(exc)))
