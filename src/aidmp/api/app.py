"""The FastAPI application: Segment HTTP Tracking API, health, and admin routes.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> app = create_app(DMP(home=tempfile.mkdtemp()))
    >>> sorted(p for p in app.openapi()["paths"] if p.startswith("/v1/t"))
    ['/v1/track']
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from aidmp import __version__
from aidmp.api.routes import (
    admin,
    audiences,
    campaigns,
    collect,
    matching,
    models,
    profiles,
    segments,
    service,
)
from aidmp.collect.broker.base import open_broker
from aidmp.collect.collector import Collector, CollectorLimits, CollectorSettings
from aidmp.dmp import DMP
from aidmp.errors import AidmpError
from aidmp.segments import realtime


def collector_settings(dmp: DMP) -> CollectorSettings:
    """Collector settings from the DMP's configuration."""
    c = dmp.settings.collector
    return CollectorSettings(
        limits=CollectorLimits(c.max_event_bytes, c.max_batch_bytes),
        flush_interval=c.flush_interval_ms / 1000, flush_rows=c.flush_rows, fsync=c.fsync,
    )


def create_app(dmp: DMP) -> FastAPI:
    """Build the app for one DMP; the collector starts (and replays its WAL) on startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if dmp.settings.broker is not None:
            # Requests go to the broker like those of collector-only processes; the loader
            # writes the store and feeds the real-time evaluator.
            from aidmp.collect.broker.producer import BrokerCollector
            from aidmp.collect.broker.service import BrokerLoading

            app.state.broker = BrokerLoading(dmp).start()
            app.state.collector = BrokerCollector(
                open_broker(dmp.settings.broker, client_id="aidmp-serve"),
                collector_settings(dmp))
            try:
                yield
            finally:
                app.state.collector.close()
                app.state.collector.broker.close()
                app.state.broker.stop()
            return
        app.state.collector = Collector(dmp.engine, dmp.wal_dir, collector_settings(dmp))
        # Only with real-time segments: the evaluator makes the flusher write per request.
        app.state.realtime = realtime.attach(dmp, app.state.collector)
        try:
            yield
        finally:
            app.state.collector.close()
            if app.state.realtime is not None:
                app.state.realtime.close()

    app = FastAPI(
        title="aidmp", version=__version__, lifespan=lifespan,
        description="Segment-compatible collector and REST API of the aidmp data platform.",
    )
    app.state.dmp = dmp
    app.state.keys = dmp.keys
    app.state.broker = None
    # Browsers post to the collector from the shop's own origin (analytics.js), as to Segment.
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"],
                       allow_headers=["*"], max_age=86400)

    @app.exception_handler(AidmpError)
    async def _aidmp_error(request: Request, exc: AidmpError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"] if p not in ("body", "query", "path"))
        return JSONResponse(
            {"error": "invalid_input", "message": f"{field}: {err['msg']}", "field": field},
            status_code=400,
        )

    app.include_router(collect.router)
    app.include_router(admin.router)
    app.include_router(profiles.router)
    app.include_router(matching.router)
    app.include_router(models.router)
    app.include_router(segments.router)
    app.include_router(audiences.router)
    app.include_router(campaigns.router)
    # jobs, schedules, deliveries, key revoke/rotate, uploads, `/`; starts the job worker,
    # the scheduler and the delivery outbox (aidmp.api.routes.service)
    app.include_router(service.router)
    return app
