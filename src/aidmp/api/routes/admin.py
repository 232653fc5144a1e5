"""Health, events, quarantine and key administration."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from aidmp import __version__
from aidmp.api.auth import require
from aidmp.privacy.keys import ApiKey

router = APIRouter()


@router.get("/health", tags=["admin"])
def health(request: Request) -> dict[str, Any]:
    """Liveness and collector counters (no key needed; no personal data)."""
    dmp = request.app.state.dmp
    collector = getattr(request.app.state, "collector", None)
    stats = dict(collector.stats.__dict__) if collector else {}
    if stats:
        stats["uptime_s"] = round(time.time() - stats.pop("started_at"), 1)
    out = {"status": "ok", "version": __version__, "engine": dmp.engine.name,
           "schema_version": dmp.engine.schema_version(), "collector": stats}
    realtime = getattr(request.app.state, "realtime", None)
    if realtime is not None:  # evaluations, entries / exits, rows queued, last lag
        out["realtime"] = dict(realtime.stats.__dict__)
    broker = getattr(request.app.state, "broker", None)
    if broker is not None:  # loader counters, events/s, consumer and end-to-end lag
        out["broker"] = broker.status()
    return out


@router.get("/v1/events/stats", tags=["events"])
def events_stats(request: Request, _: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """Totals and counts by type, source and event name."""
    return request.app.state.dmp.events.stats()  # type: ignore[no-any-return]


def _flush(request: Request) -> None:
    # events acknowledged a moment ago may still sit in the collector's buffer
    collector = getattr(request.app.state, "collector", None)
    if collector is not None:
        collector.flush()


@router.get("/v1/events/count", tags=["events"], operation_id="events_count")
def events_count(
    request: Request, source: str | None = Query(None, max_length=200),
    event: str | None = Query(None, max_length=200),
    _: ApiKey = Depends(require("aggregate")),
) -> dict[str, int]:
    """Number of stored events (only ``source`` / ``event`` when given), every acknowledged
    one included."""
    _flush(request)
    return {"events": request.app.state.dmp.events.count(source=source, event=event)}


@router.get("/v1/quarantine/count", tags=["quarantine"], operation_id="quarantine_count")
def quarantine_count(request: Request, source: str | None = Query(None, max_length=200),
                     _: ApiKey = Depends(require("aggregate"))) -> dict[str, int]:
    """Number of quarantined records waiting (of ``source`` when given)."""
    _flush(request)
    return {"waiting": request.app.state.dmp.quarantine.count(source=source)}


@router.get("/v1/events", tags=["events"])
def events_tail(
    request: Request, n: int = Query(10, ge=1, le=1000), source: str | None = None,
    _: ApiKey = Depends(require("personal")),
) -> list[dict[str, Any]]:
    """The newest events (``n`` at most 1000)."""
    return request.app.state.dmp.events.tail(n, source=source)  # type: ignore[no-any-return]


@router.get("/v1/quarantine", tags=["quarantine"])
def quarantine_list(
    request: Request, source: str | None = None, limit: int = Query(50, ge=1, le=1000),
    include_replayed: bool = False, _: ApiKey = Depends(require("personal")),
) -> list[dict[str, Any]]:
    """Records waiting in the quarantine, with field and reason (``include_replayed``: the
    replayed ones too)."""
    _flush(request)
    return request.app.state.dmp.quarantine.list(  # type: ignore[no-any-return]
        source=source, limit=limit, include_replayed=include_replayed)


class ReplayRequest(BaseModel):
    """Which quarantined records to replay, and import-mapping keys to change."""

    model_config = ConfigDict(extra="forbid")
    ids: list[str] | None = None
    source: str | None = None
    mapping: dict[str, Any] = Field(default_factory=dict)


@router.post("/v1/quarantine/replay", tags=["quarantine"])
def quarantine_replay(
    request: Request, body: ReplayRequest, key: ApiKey = Depends(require("operate")),
) -> dict[str, int]:
    """Re-validate and store what now passes."""
    request.app.state.collector.flush()  # so records still in the buffer are included
    dmp = request.app.state.dmp
    report = dmp.quarantine.replay(ids=body.ids, source=body.source,
                                   mapping_overrides=body.mapping)
    dmp.audit.record(key.key_id, "quarantine.replay", body.source, report.to_dict())
    return report.to_dict()  # type: ignore[no-any-return]


class KeyRequest(BaseModel):
    """A key to create."""

    model_config = ConfigDict(extra="forbid")
    scope: Literal["collect", "analyst", "marketer", "engineer", "privacy", "admin", "write",
                   "read"] = Field(description="the key's role")
    source: str = "default"
    name: str | None = None
    expires_at: datetime | None = Field(default=None, description="refused from then on")
    rate_limit: float | None = Field(default=None, gt=0, le=1e6,
                                     description="requests per second allowed")


@router.post("/v1/keys", tags=["keys"], status_code=201)
def keys_create(
    request: Request, body: KeyRequest, key: ApiKey = Depends(require("admin")),
) -> dict[str, Any]:
    """Create a key; the secret is in this answer only."""
    dmp = request.app.state.dmp
    created = dmp.keys.create(body.scope, source=body.source, name=body.name,
                              expires_at=body.expires_at, rate_limit=body.rate_limit)
    dmp.audit.record(key.key_id, "keys.create", created.key.key_id, {"scope": body.scope})
    return {**created.key.__dict__, "secret": created.secret}


@router.get("/v1/keys", tags=["keys"])
def keys_list(request: Request, _: ApiKey = Depends(require("admin"))) -> list[dict[str, Any]]:
    """Every key (no secrets)."""
    return [k.__dict__ for k in request.app.state.dmp.keys.list()]
