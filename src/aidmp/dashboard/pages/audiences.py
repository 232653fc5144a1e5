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


@router.get("/audiences", response_class=HTMLResponse)
def audiences(request: Request, viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """Destinations and what was sent to them."""
    dmp = dmp_of(request)
    destinations = _safe(lambda: dmp.audiences.list_destinations())
    history = _safe(lambda: dmp.audiences.history())
    outbox = getattr(dmp, "outbox", None)
    dead = _safe(lambda: outbox.dead_letters()) if outbox is not None else None
    return render(request, "audiences.html", {
        "destinations": [d.model_dump() if hasattr(d, "model_dump") else dict(d)
                         for d in destinations or []],
        "history": history or [], "dead": dead}, viewer=viewer)
