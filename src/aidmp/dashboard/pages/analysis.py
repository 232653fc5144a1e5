"""Analysis: the RFM grid, the CLV distribution and top customers, clusters, the lookalike
builder and the association-rules browser ("bought together")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from aidmp.dashboard import charts, queries
from aidmp.dashboard.web import (
    Viewer,
    aggregate,
    cached,
    dmp_of,
    gettext_for,
    known_segments,
    need,
    posted,
    redirect,
    render,
)
from aidmp.errors import AidmpError

router = APIRouter()


def grid(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The R x F grid: cells[r][f] = profiles, with the largest cell for the colour scale."""
    cells = {(int(r["rfm_r"]), int(r["rfm_f"])): r for r in rows}
    top = max((int(r["n"]) for r in rows), default=1)
    return {"r": [5, 4, 3, 2, 1], "f": [1, 2, 3, 4, 5], "cells": cells, "top": top}


@router.get("/analysis", response_class=HTMLResponse)
def analysis(request: Request, viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """The analysis page."""
    dmp = dmp_of(request)
    _ = gettext_for(viewer.locale)
    clv = cached(request, "clv.hist", lambda: queries.distribution(dmp, "clv_12m"))
    segments = known_segments(request)
    learned = [s for s in segments if s.get("rule") is None]
    context: dict[str, Any] = {
        "rfm": grid(aggregate(request, "rfm.grid", lambda: queries.rfm_grid(dmp))),
        "rfm_segments": aggregate(request, "profiles.rfm", lambda: queries.rfm_segments(dmp)),
        "clv": clv, "charts": bool(clv), "learned": learned,
        "top": queries.top_profiles(dmp, "clv_12m", 10, ("revenue_total", "rfm_segment"))
        if viewer.can("personal_data") else [],
        "segments": segments,
        "has_rules": any(m["kind"] == "rules" for m in dmp.models.list()),
    }
    if clv:
        labels = [f"{b['from']:.0f}\u2013{b['to']:.0f}" for b in clv]
        context["clv_chart"] = charts.bars(labels, {_("Profiles"): [b["n"] for b in clv]})
    return render(request, "analysis.html", context, viewer=viewer)


@router.post("/analysis/lookalike")
def lookalike(request: Request, seed: str = Form(..., max_length=200),
              name: str = Form(..., min_length=1, max_length=200),
              top_percent: float = Form(10.0, gt=0, le=100),
              viewer: Viewer = Depends(posted("segments_edit"))) -> Response:
    """Save the people most like a seed segment's members as a new segment."""
    from aidmp.segments.learned import lookalike_segment

    dmp = dmp_of(request)
    try:
        got = lookalike_segment(dmp, seed, name, top_percent=top_percent)
    except AidmpError as exc:
        return render(request, "message.html", {"error": str(exc), "back": "/analysis"},
                      viewer=viewer, status=400)
    dmp.audit.record(viewer.key.key_id, "segments.lookalike", str(got.get("segment_id")))
    return redirect(f"/segments/{got.get('segment_id', '')}")


@router.post("/analysis/together", response_class=HTMLResponse)
def together(request: Request, item: str = Form(..., min_length=1, max_length=200),
             viewer: Viewer = Depends(posted("aggregates"))) -> HTMLResponse:
    """Items bought together with ``item`` (association rules)."""
    try:
        rows = list(dmp_of(request).models.bought_together(item.strip(), n=10))
        error = None
    except AidmpError as exc:
        rows, error = [], str(exc)
    return render(request, "partials/together.html", {"rows": rows, "error": error,
                                                     "item": item}, viewer=viewer)
