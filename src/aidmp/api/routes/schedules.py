"""``/v1/schedules`` (cron schedules that submit jobs) and ``/v1/deliveries`` (the outbox).

Example:
    >>> sorted({r.path for r in router.routes})  # doctest: +NORMALIZE_WHITESPACE
    ['/v1/deliveries', '/v1/deliveries/replay', '/v1/schedules', '/v1/schedules/{name}',
     '/v1/schedules/{name}/run']
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from aidmp.api.auth import require
from aidmp.errors import AidmpError
from aidmp.privacy.keys import ApiKey
from aidmp.service.outbox import Outbox

router = APIRouter()


class ScheduleRequest(BaseModel):
    """A schedule: a job kind and its parameters, submitted at the cron expression's times."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    cron: str = Field(min_length=1, max_length=100, description="five fields, UTC")
    kind: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


@router.get("/v1/schedules", tags=["schedules"], operation_id="schedules_list")
def schedules_list(request: Request,
                   _: ApiKey = Depends(require("aggregate"))) -> list[dict[str, Any]]:
    """Every schedule with its last and next run."""
    return request.app.state.dmp.schedules.list()  # type: ignore[no-any-return]


@router.post("/v1/schedules", tags=["schedules"], status_code=201,
             operation_id="schedules_add")
def schedules_add(request: Request, body: ScheduleRequest,
                  key: ApiKey = Depends(require("operate"))) -> dict[str, Any]:
    """Add (or replace) a schedule."""
    dmp = request.app.state.dmp
    out = dmp.schedules.add(body.name, body.cron, body.kind, body.params)
    dmp.audit.record(key.key_id, "schedules.add", body.name, {"kind": body.kind})
    return out  # type: ignore[no-any-return]


@router.delete("/v1/schedules/{name}", tags=["schedules"], operation_id="schedules_remove")
def schedules_remove(request: Request, name: str,
                     key: ApiKey = Depends(require("operate"))) -> dict[str, Any]:
    """Delete a schedule (its past jobs stay)."""
    dmp = request.app.state.dmp
    out = dmp.schedules.remove(name)
    dmp.audit.record(key.key_id, "schedules.remove", name, {})
    return out  # type: ignore[no-any-return]


@router.post("/v1/schedules/{name}/run", tags=["schedules"], status_code=202,
             operation_id="schedules_run")
def schedules_run(request: Request, name: str,
                  key: ApiKey = Depends(require("operate"))) -> dict[str, Any]:
    """Submit the schedule's job now; the job (poll ``GET /v1/jobs/{id}``)."""
    dmp = request.app.state.dmp
    job_id = dmp.schedules.run(name)
    dmp.audit.record(key.key_id, "schedules.run", name, {"job": job_id})
    return dmp.jobs.get(job_id)  # type: ignore[no-any-return]


def _outbox(request: Request) -> Outbox:
    service = getattr(request.app.state, "service", None)
    if service is None or service.outbox is None:
        raise AidmpError("the delivery outbox is not running")
    return service.outbox  # type: ignore[no-any-return]


@router.get("/v1/deliveries", tags=["deliveries"], operation_id="deliveries_list")
def deliveries_list(request: Request, state: str | None = None,
                    limit: int = Query(100, ge=1, le=1000),
                    _: ApiKey = Depends(require("personal"))) -> dict[str, Any]:
    """Webhook and audience deliveries (``state=dead``: the dead letters), and counters."""
    outbox = _outbox(request)
    return {"deliveries": outbox.list(state, limit), "stats": dict(outbox.stats.__dict__)}


class ReplayDeliveries(BaseModel):
    """Dead letters to queue again (all when ``ids`` is left out)."""

    model_config = ConfigDict(extra="forbid")
    ids: list[str] | None = Field(default=None, max_length=10_000)


@router.post("/v1/deliveries/replay", tags=["deliveries"], operation_id="deliveries_replay")
def deliveries_replay(request: Request, body: ReplayDeliveries,
                      key: ApiKey = Depends(require("operate"))) -> dict[str, int]:
    """Queue dead letters again (attempts reset)."""
    out = _outbox(request).replay(body.ids)
    request.app.state.dmp.audit.record(key.key_id, "deliveries.replay", None, out)
    return out
