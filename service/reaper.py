"""The service's background loops: requeue jobs whose lease lapsed and publish what was not
sent (one loop), drive running sweeps and comparisons (another: service/sweeps/controller.py),
and run models in production (a third: schedules, monitoring runs and the webhook outbox:
service/model_monitor.py, service/webhook_sender.py).

Every ADAMANT_REAPER_INTERVAL_S (2 s): running jobs whose worker stopped heartbeating go
back to the queue (or fail after max_restarts); then every queued job whose "run job X"
message was never published — the service died between commit and publish, the broker lost
it, or it was requeued — is published again. Several service processes may sweep at once:
each transition is a guarded UPDATE, and a duplicated message finds the job already claimed.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from adamant.dispatch import dispatch
from adamant.store import jobs as store_jobs
from service import model_monitor, webhook_sender
from service.sweeps.controller import advance_all

log = logging.getLogger("adamant.reaper")


def sweep_once(sessions, celery, stale_after_s: float) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        reaped = store_jobs.reap_expired_leases(session)
        for job_id, status in reaped:
            log.warning("job %s: lease lapsed -> %s", job_id, status)
        pending = store_jobs.jobs_to_dispatch(session, stale_after_s=stale_after_s)
        published = 0
        for job in pending:
            try:
                dispatch(session, celery, job.id, job.queue, job.priority)
                published += 1
            except Exception as exc:  # broker down: the next sweep tries again
                log.warning("job %s: could not publish (%s); will retry", job.id, exc)
                break
    return {"reaped": len(reaped), "published": published}


async def run_forever(app: FastAPI) -> None:
    """Reap leases and drive sweeps as two loops side by side: a controller step that is slow
    (a TPE proposal, a sweep row locked by a cancel, a slow database) must not hold back the
    requeueing of a job whose worker died."""
    await asyncio.gather(reap_forever(app), drive_sweeps_forever(app), drive_models_forever(app))


async def reap_forever(app: FastAPI) -> None:
    settings = app.state.settings
    while True:
        try:
            await asyncio.to_thread(sweep_once, app.state.sessions, app.state.celery, settings.dispatch_stale_s)
        except Exception as exc:  # the database may be restarting; keep sweeping
            log.warning("sweep failed: %s", exc)
        await asyncio.sleep(settings.reaper_interval_s)


async def drive_sweeps_forever(app: FastAPI) -> None:
    settings = app.state.settings
    while True:
        try:
            await asyncio.to_thread(advance_all, app.state.sessions, app.state.celery, settings)
        except Exception as exc:
            log.warning("sweep controller failed: %s", exc)
        await asyncio.sleep(settings.reaper_interval_s)


async def drive_models_forever(app: FastAPI) -> None:
    """Fire due schedules, advance monitoring runs, send due webhooks: a slow receiver (up to its
    timeout per delivery) holds back only this loop."""
    settings = app.state.settings
    while True:
        try:
            await asyncio.to_thread(model_monitor.advance_all, app.state.sessions, app.state.celery, settings)
        except Exception as exc:
            log.warning("monitoring loop failed: %s", exc)
        try:
            await asyncio.to_thread(webhook_sender.send_due, app.state.sessions, settings)
        except Exception as exc:
            log.warning("webhook sender failed: %s", exc)
        await asyncio.sleep(settings.reaper_interval_s)
