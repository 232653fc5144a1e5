"""The service's routes (jobs, schedules, deliveries, key revoke/rotate, uploads, ``/``) and
its lifespan: the job worker, the scheduler and the delivery worker start after the collector
and stop before it (FastAPI nests an included router's lifespan inside the app's).

Example:
    >>> from fastapi import FastAPI
    >>> app = FastAPI(); app.include_router(router)
    >>> "/v1/jobs" in app.openapi()["paths"]
    True
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from aidmp.api.routes import home, jobs, keys, schedules
from aidmp.service.runtime import Service


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the service parts of the served DMP; stop them at shutdown."""
    collector = getattr(app.state, "collector", None)
    flush = getattr(collector, "flush", None)
    app.state.service = Service(app.state.dmp, flush=flush).start()
    app.state.service.take_webhooks(getattr(app.state, "realtime", None))
    try:
        yield
    finally:
        app.state.service.stop()


router = APIRouter(lifespan=lifespan)
for _part in (jobs.router, schedules.router, keys.router, home.router):
    router.include_router(_part)

__all__ = ["router"]
