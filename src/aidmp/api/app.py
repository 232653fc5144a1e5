"""The FastAPI application: Segment HTTP Tracking API, health, and admin routes.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> app = create_app(DMP(home=tempfile.mkdtemp()))
    >>> sorted(p for p in app.openapi()["paths"] if p.startswith("/v1/t"))
    ['/v1/track']
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aidmp import __version__
from aidmp.api.guard import InputGuard, internal_error_body, log_failure
from aidmp.api.openapi import COLLECTOR_TYPES, truthful_openapi
from aidmp.api.routes import (
    admin,
    audiences,
    campaigns,
    collect,
    matching,
    models,
    privacy,
    profiles,
    segments,
    service,
    sources,
)
from aidmp.collect.broker.factory import open_broker
from aidmp.collect.collector import Collector, CollectorLimits, CollectorSettings
from aidmp.collect.walcrypt import load_cipher
from aidmp.dmp import DMP
from aidmp.errors import AidmpError, RateLimitedError
from aidmp.segments import realtime

_SHORT_PATHS = ("t", "i", "p", "s", "g", "a", "b")
_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "payload_too_large"}


def collector_settings(dmp: DMP) -> CollectorSettings:
    """Collector settings from the DMP's configuration."""
    c = dmp.settings.collector
    lim = dmp.settings.limits
    return CollectorSettings(
        limits=CollectorLimits(c.max_event_bytes, c.max_batch_bytes, lim.max_depth, lim.clock()),
        flush_interval=c.flush_interval_ms / 1000, flush_rows=c.flush_rows, fsync=c.fsync,
        cipher=load_cipher(c.wal_key_file, dmp.home),
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
        app.state.collector.row_filter = dmp.suppression.filter
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
    # The key and the body size are checked before a body is read (see aidmp.api.guard).
    app.add_middleware(
        InputGuard, verify=lambda secret: app.state.keys.verify(secret),
        collector_paths=frozenset(f"/v1/{p}" for p in (*COLLECTOR_TYPES, *_SHORT_PATHS)),
        collector_limit=dmp.settings.collector.max_batch_bytes,
        body_limit=dmp.settings.limits.max_body_bytes)
    # Browsers post to the collector from the shop's own origin (analytics.js), as to Segment.
    # Added last, so it is outermost: the guard's 401/413 answers carry CORS headers too.
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"],
                       allow_headers=["*"], expose_headers=["X-Request-ID"], max_age=86400)

    @app.exception_handler(AidmpError)
    async def _aidmp_error(request: Request, exc: AidmpError) -> JSONResponse:
        rid = getattr(request.state, "request_id", "")
        if exc.http_status == 500:  # ours, not the client's: no detail leaves the server
            log_failure(exc, request.scope, rid)
            return JSONResponse(internal_error_body(rid), status_code=500)
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))} \
            if isinstance(exc, RateLimitedError) else None
        return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # One status for every validation error, as for the collector's own: 400 (see
        # aidmp.api.openapi; FastAPI's default would be 422).
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"] if p not in ("body", "query", "path"))
        msg = str(err.get("msg")).removeprefix("Value error, ")
        head, sep, rest = msg.partition(": ")
        if sep and head.isidentifier():  # a model's own check starts with the field it blames
            field, msg = ".".join(filter(None, [field, head])), rest
        return JSONResponse(
            {"error": "invalid_input", "code": "invalid_input",
             "message": f"{field}: {msg[:300]}", "field": field},
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own refusals (a body that is not JSON, an unknown path): the same shape
        code = _HTTP_CODES.get(exc.status_code, "invalid_input")
        return JSONResponse({"error": code, "code": code, "message": str(exc.detail)},
                            status_code=exc.status_code, headers=exc.headers)

    def _openapi() -> dict[str, Any]:
        return truthful_openapi(app)

    app.openapi = _openapi  # type: ignore[method-assign]

    app.include_router(collect.router)
    app.include_router(admin.router)
    app.include_router(profiles.router)
    app.include_router(matching.router)
    app.include_router(models.router)
    app.include_router(segments.router)
    app.include_router(audiences.router)
    app.include_router(campaigns.router)
    app.include_router(sources.router)
    app.include_router(privacy.router)
    # The web dashboard at / (before the service's placeholder home page); see aidmp.dashboard.
    from aidmp.dashboard import mount as mount_dashboard

    mount_dashboard(app)
    # jobs, schedules, deliveries, key revoke/rotate, uploads, `/`; starts the job worker,
    # the scheduler and the delivery outbox (aidmp.api.routes.service)
    app.include_router(service.router)
    return app
