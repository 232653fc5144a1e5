"""The app of ``aidmp serve --collector-only``: the Segment routes and ``/health``, no store.

Such a process never opens the database (the loader owns it): it verifies write keys against
the file the loader exports, validates requests exactly as the in-process collector does,
produces the acknowledged rows to the configured broker and answers once the broker confirmed.
Run as many as the CPUs allow, each on its own port (or behind one load balancer).

Example:
    >>> import tempfile
    >>> from aidmp.config import load_settings
    >>> s = load_settings(tempfile.mkdtemp(), broker={"kind": "redis"})
    >>> sorted(p for p in create_collector_app(s).openapi()["paths"] if "/v1/t" in p)
    ['/v1/track']
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from aidmp import __version__, logs
from aidmp.api.routes import collect
from aidmp.collect.broker.factory import open_broker
from aidmp.collect.broker.keys import WriteKeyFile
from aidmp.collect.broker.producer import BrokerCollector
from aidmp.collect.broker.service import broker_config, key_file
from aidmp.collect.collector import CollectorLimits, CollectorSettings
from aidmp.config import Settings
from aidmp.errors import AidmpError


def create_collector_app(settings: Settings) -> FastAPI:
    """A collector-only app producing to ``settings.broker``.

    Raises:
        ConfigError: no broker is configured.
    """
    config = broker_config(settings)
    c = settings.collector
    collector_settings = CollectorSettings(
        limits=CollectorLimits(c.max_event_bytes, c.max_batch_bytes))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        broker = open_broker(config, client_id=f"aidmp-collector-{os.getpid()}")
        app.state.collector = BrokerCollector(broker, collector_settings)
        try:
            yield
        finally:
            app.state.collector.close()
            broker.close()

    app = FastAPI(title="aidmp collector", version=__version__, lifespan=lifespan,
                  description="Segment-compatible collector producing to a broker.")
    app.state.keys = WriteKeyFile(key_file(settings))
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["POST"],
                       allow_headers=["*"], max_age=86400)

    @app.exception_handler(AidmpError)
    async def _aidmp_error(request: Request, exc: AidmpError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    @app.get("/health", tags=["admin"])
    def health(request: Request) -> dict[str, Any]:
        """Liveness and producer counters (no key needed; no personal data)."""
        stats = dict(request.app.state.collector.stats.__dict__)
        stats["uptime_s"] = round(time.time() - stats.pop("started_at"), 1)
        return {"status": "ok", "version": __version__, "role": "collector-only",
                "broker": config.kind, "collector": stats}

    app.include_router(collect.router)
    return app


def serve_collector(settings: Settings, *, host: str | None = None, port: int | None = None,
                    access_log: bool = False) -> None:
    """Serve a collector-only process until interrupted."""
    c = settings.collector
    uvicorn.Server(uvicorn.Config(
        create_collector_app(settings), host=host or c.host, port=c.port if port is None else port,
        log_config=logs.configure(), access_log=access_log, lifespan="on",
        timeout_graceful_shutdown=10)).run()
