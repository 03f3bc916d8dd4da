"""The FastAPI application: wiring only — settings, database, Celery, routes, background sweeps."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select

from adamant.logging_setup import configure_logging
from adamant.queue import make_celery
from adamant.settings import Settings, get_settings
from adamant.store import migrate
from adamant.store.db import engine_for, make_session_factory
from service import bootstrap, prometheus, reaper
from service.api import openapi, problems
from service.api.deps import AuthFailures, RevocationWatch
from service.api.early_auth import EarlyAuth
from service.api.events import EventStreams
from service.api.routes import (
    artifacts,
    checkpoints,
    datasets,
    health,
    jobs,
    keys,
    metrics,
    models,
    monitoring,
    predict,
    predictions,
    sweeps,
    tenants,
    webhooks,
)
from service.api.snapshots import JobSnapshots
from service.upload_limit import UploadLimit

log = logging.getLogger("adamant.service")
DASHBOARD = Path(__file__).parent / "dashboard"


def create_app(settings: Settings | None = None, *, run_sweeps: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(reaper.run_forever(app)) if run_sweeps else None
        warming = asyncio.create_task(asyncio.to_thread(warm_up, app))
        try:
            yield
        finally:
            warming.cancel()
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            app.state.engine.dispose()

    app = FastAPI(
        title="Adamant",
        version="1",
        summary="Training-as-a-service for marketing data teams, on our own Adam core.",
        lifespan=lifespan,
    )
    pool = {} if settings.database_url.startswith("sqlite") else {"pool_size": 20, "max_overflow": 20}
    engine = engine_for(settings, **pool)
    if settings.migrate_on_start:
        migrate.upgrade(engine)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_session_factory(engine)
    app.state.celery = make_celery(settings, name="adamant-service")
    app.state.auth_cache = {}
    app.state.auth_failures = AuthFailures()
    app.state.revocations = RevocationWatch()
    app.state.scorers = {}
    app.state.snapshots = JobSnapshots(app.state.sessions, settings.poll_cache_s)
    app.state.event_streams = EventStreams(app.state.sessions, settings.max_streams_per_tenant)
    bootstrap.ensure_keys(app.state.sessions, settings)

    problems.install(app)
    openapi.install(app)
    prometheus.install(app)
    # Routes match in order: the polled ones (job status, metrics) first.
    for module in (jobs, metrics, health, tenants, keys, datasets, checkpoints, artifacts, predict, predictions, sweeps,
                   models, monitoring, webhooks):
        app.include_router(module.router)
    if DASHBOARD.exists():
        mount_dashboard(app)
    else:
        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/docs")
    return app


def warm_up(app: FastAPI) -> None:
    """Open a database connection and a broker connection now, in the background, so the first
    submit each service process answers does not pay for both (tens of milliseconds). Best
    effort: a database or broker that is down is /readyz's business, not startup's."""
    try:
        with app.state.sessions() as session:
            session.execute(select(1))
        with app.state.celery.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=1)
    except Exception as exc:
        log.info("warm-up skipped: %s", exc)


def mount_dashboard(app: FastAPI) -> None:
    """The dashboard at `/`: its page and stylesheet, and its folders as static mounts.

    Not one StaticFiles mount at `/`: that would answer every unrouted GET (a 404 from the
    file system where the API owes a 405 with `Allow`, e.g. GET /v1/tenants).
    """
    for folder in ("js", "vendor", "presets"):
        app.mount(f"/{folder}", StaticFiles(directory=DASHBOARD / folder), name=f"dashboard-{folder}")

    @app.get("/", include_in_schema=False)
    @app.get("/index.html", include_in_schema=False)
    def dashboard_page() -> FileResponse:
        return FileResponse(DASHBOARD / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/app.css", include_in_schema=False)
    def dashboard_styles() -> FileResponse:
        return FileResponse(DASHBOARD / "app.css", headers={"Cache-Control": "no-cache"})


def create_asgi_app() -> EarlyAuth:
    """What uvicorn serves (`--factory`): the app behind the streaming body-size cap, behind
    the check of the API key of requests with a body (before any of it is read)."""
    settings = get_settings()
    configure_logging(settings, "service")
    api = create_app(settings)
    app = EarlyAuth(UploadLimit(api, max_bytes=settings.upload_max_bytes), api)
    # Everything built so far lives as long as the process: keep it out of the cyclic GC's
    # generations, so collections stay short under load (fewer long-tail latencies).
    gc.collect()
    gc.freeze()
    return app
