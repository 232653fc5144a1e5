"""Overview: events per day by source and type, profiles, revenue, segments, the last build,
the collector's health and the jobs running."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from aidmp.dashboard import charts, queries
from aidmp.dashboard.web import Viewer, aggregate, dmp_of, known_segments, need, render

router = APIRouter()


def last_build(request: Request) -> dict[str, Any] | None:
    """The last build with its stages' seconds (None before the first build)."""
    build = dmp_of(request).profiles.last_build()
    if build is None:
        return None
    stats = build.get("stats")
    stats = json.loads(stats) if isinstance(stats, str) else (stats or {})
    return {**build, "summary": stats, "stages": list((stats.get("seconds") or {}).items())}


def collector_health(request: Request) -> dict[str, Any] | None:
    """The collector's counters since start (None when this process runs no collector)."""
    collector = getattr(request.app.state, "collector", None)
    stats = getattr(collector, "stats", None)
    if stats is None:
        return None
    return {k: getattr(stats, k) for k in ("requests", "accepted", "quarantined", "stored",
                                             "duplicates", "flush_errors", "last_flush_ms")}


def running_jobs(request: Request) -> list[dict[str, Any]] | None:
    """Jobs queued or running (None where this DMP has no job runner)."""
    jobs = getattr(dmp_of(request), "jobs", None)
    if jobs is None:
        return None
    return [j for j in jobs.list(limit=20) if j.get("state") in ("queued", "running")]


def overview_data(request: Request) -> dict[str, Any]:
    """The overview's store-wide aggregates: three scans (events by source, events by day,
    profiles) and the segment sizes."""
    dmp = dmp_of(request)
    sources = queries.source_freshness(dmp)
    newest = max((s["newest"] for s in sources if s["newest"] is not None), default=None)
    daily = queries.events_per_day(dmp, newest)
    return {"sources": sources, "daily": daily, "totals": queries.profile_totals(dmp),
            "sizes": queries.segment_sizes(dmp)}


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """The overview page."""
    data = aggregate(request, "overview", lambda: overview_data(request))
    segments = known_segments(request)
    context: dict[str, Any] = {
        "charts": bool(data["daily"]),
        "totals": data["totals"],
        "sources": data["sources"],
        "build": last_build(request),
        "collector": collector_health(request),
        "jobs": running_jobs(request),
        "segments": [{**s, "size": data["sizes"].get(s["id"], 0)} for s in segments],
        "days": queries.DAYS,
    }
    if data["daily"]:
        days, series = charts.pivot(queries.by_day(data["daily"], "source"), "day", "key", "n")
        context["source_chart"] = charts.bars(days, series, stacked=True)
        days, series = charts.pivot(queries.by_day(data["daily"], "type"), "day", "key", "n")
        context["type_chart"] = charts.lines(days, series)
    return render(request, "overview.html", context, viewer=viewer)
