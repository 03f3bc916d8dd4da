"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from service import prometheus
from service.api.problems import Problem

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> dict[str, str]:
    """The database and the broker are reachable: jobs can be stored and queued. Else 503
    problem+json whose `errors` name each dependency that is down (path "database" or "broker")."""
    state = request.app.state
    checks: dict[str, str] = {}
    try:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        with state.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"unreachable: {type(exc).__name__}"
    down = [{"path": name, "message": state} for name, state in checks.items() if state != "ok"]
    if down:
        raise Problem(503, "Not ready", "; ".join(f"{k}: {v}" for k, v in checks.items()), kind="not-ready", errors=down)
    return {"status": "ready", **checks}


@router.get("/metrics", response_class=Response, responses={200: {"content": {prometheus.CONTENT_TYPE: {}}}})
async def metrics(request: Request) -> Response:
    """Prometheus metrics (service/prometheus.py). No API key: the numbers are aggregates over
    all tenants, with no tenant or job labels. ADAMANT_METRICS_ENABLED=false turns the route
    off (404); ADAMANT_METRICS_TOKEN makes it require `Authorization: Bearer <token>`."""
    settings = request.app.state.settings
    if not settings.metrics_enabled:
        raise Problem(404, "Not found", "metrics are disabled (ADAMANT_METRICS_ENABLED=false)")
    if settings.metrics_token:
        presented = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(presented.encode(), settings.metrics_token.encode()):
            raise Problem(401, "Unauthorized", "/metrics needs the bearer token of ADAMANT_METRICS_TOKEN",
                          headers={"WWW-Authenticate": "Bearer"})
    body = await run_in_threadpool(prometheus.exposition, request.app.state.sessions)
    return Response(body, media_type=prometheus.CONTENT_TYPE)
