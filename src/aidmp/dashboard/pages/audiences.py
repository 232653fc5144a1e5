"""Audiences: destinations, sync history (adds and removes) and undelivered messages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from aidmp.dashboard.web import Viewer, dmp_of, need, render
from aidmp.errors import AidmpError

router = APIRouter()


def _safe(call: Any) -> Any:
    try:
        return call()
    except (AidmpError, TypeError, AttributeError):
        return None


def dead_letters(dmp: Any) -> list[dict[str, Any]]:
    """Deliveries that gave up (webhooks and audience pushes), newest last."""
    from aidmp.service.outbox import Outbox

    return Outbox(dmp).list(state="dead", limit=100)


@router.get("/audiences", response_class=HTMLResponse)
def audiences(request: Request, viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """Destinations and what was sent to them."""
    dmp = dmp_of(request)
    destinations = _safe(lambda: dmp.audiences.list_destinations())
    history = _safe(lambda: dmp.audiences.history())
    dead = _safe(lambda: dead_letters(dmp))
    return render(request, "audiences.html", {
        "destinations": [d.model_dump() if hasattr(d, "model_dump") else dict(d)
                         for d in destinations or []],
        "history": history or [], "dead": dead}, viewer=viewer)
