"""Audiences: destinations, sync history (adds and removes) and undelivered messages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from aidmp.dashboard.web import Viewer, dmp_of, need, posted, redirect, render
from aidmp.errors import AidmpError

router = APIRouter()


def _safe(call: Any) -> Any:
    try:
        return call()
    except (AidmpError, TypeError, AttributeError):
        return None


def outbox(request: Request) -> Any:
    """The running server's delivery outbox (its worker wakes on a replay), else one over
    the store (the next ``aidmp serve`` delivers what it queues)."""
    from aidmp.service.outbox import Outbox

    service = getattr(request.app.state, "service", None)
    running = getattr(service, "outbox", None)
    return running if running is not None else Outbox(dmp_of(request))


def dead_letters(request: Request) -> list[dict[str, Any]]:
    """Deliveries that gave up (webhooks and audience pushes), oldest first."""
    return outbox(request).list(state="dead", limit=100)  # type: ignore[no-any-return]


@router.get("/audiences", response_class=HTMLResponse)
def audiences(request: Request, replayed: int | None = None,
              viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """Destinations and what was sent to them."""
    dmp = dmp_of(request)
    destinations = _safe(lambda: dmp.audiences.list_destinations())
    history = _safe(lambda: dmp.audiences.history())
    dead = _safe(lambda: dead_letters(request))
    return render(request, "audiences.html", {
        "destinations": [d.model_dump() if hasattr(d, "model_dump") else dict(d)
                         for d in destinations or []],
        "history": history or [], "dead": dead, "replayed": replayed}, viewer=viewer)


@router.post("/audiences/replay")
def replay(request: Request, viewer: Viewer = Depends(posted("sources_manage"))) -> Response:
    """Queue every dead letter again, attempts reset (the API's ``POST /v1/deliveries/replay``;
    the same ``operate`` grant)."""
    out = outbox(request).replay()
    dmp_of(request).audit.record(viewer.key.key_id, "deliveries.replay", None, out)
    return redirect(f"/audiences?replayed={int(out['replayed'])}")
