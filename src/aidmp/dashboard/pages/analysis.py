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
CLUSTER_KIND = "ProfileClusterer"
"""The registry kind of the models ``aidmp segments cluster`` fits."""


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
    maps = cached(request, "clusters", lambda: cluster_models(request))
    context["clusters"] = [with_segments(m, segments, viewer.locale) for m in maps]
    context["charts"] = bool(clv) or bool(maps)
    if clv:
        labels = [f"{b['from']:.0f}\u2013{b['to']:.0f}" for b in clv]
        context["clv_chart"] = charts.bars(labels, {_("Profiles"): [b["n"] for b in clv]})
    return render(request, "analysis.html", context, viewer=viewer)


def cluster_models(request: Request) -> list[dict[str, Any]]:
    """Every active clustering model: its 2-D projection (PCA of the standardised features of
    a sample, kept with the version when it was fitted, else computed from the saved model)
    and its clusters' sizes and descriptions."""
    from aidmp.ml.clustering.plot import cluster_projection

    dmp = dmp_of(request)
    out = []
    names = dict.fromkeys(r["name"] for r in dmp.models.list()
                          if r["kind"] == CLUSTER_KIND and r["status"] == "active")
    for name in names:
        row = dmp.models.show(name)
        params = row.get("params") or {}
        projection, clusters = params.get("projection"), params.get("clusters")
        if projection is None or clusters is None:
            try:
                model = dmp.models.load(name)
            except AidmpError:
                continue
            projection = projection or cluster_projection(model)
            clusters = clusters or model.card()["clusters"]
        out.append({"model": name, "version": row["version"], "projection": projection,
                    "clusters": clusters})
    return out


def with_segments(found: dict[str, Any], segments: list[dict[str, Any]],
                  locale: str) -> dict[str, Any]:
    """A clustering model's scatter chart, and each cluster with its saved segment (a
    segment whose rule is ``<model> = <cluster>``), if any."""
    _ = gettext_for(locale)
    by_rule = {str(s.get("rule") or "").replace(" ", ""): s for s in segments}
    proj = found["projection"]
    groups: dict[str, list[tuple[float, float]]] = {}
    for x, y, c in zip(proj["x"], proj["y"], proj["cluster"], strict=True):
        label = _("Noise") if c == -1 else _("Cluster %(n)s") % {"n": c}
        groups.setdefault(label, []).append((x, y))
    ex = proj.get("explained") or [0.0, 0.0]
    chart = charts.scatter(
        dict(sorted(groups.items())),
        _("First component (%(share)s of the variance)") % {"share": f"{ex[0]:.0%}"},
        _("Second component (%(share)s)") % {"share": f"{ex[1]:.0%}"})
    clusters = [{**c, "segment": by_rule.get(f"{found['model']}={int(c['cluster'])}")}
                for c in found["clusters"]]
    return {**found, "chart": chart, "clusters": clusters, "points": len(proj["x"])}


@router.post("/analysis/clusters/save")
def save_cluster(request: Request, model: str = Form(..., max_length=200),
                 cluster: int = Form(..., ge=-1, le=10_000),
                 viewer: Viewer = Depends(posted("segments_edit"))) -> Response:
    """Save one cluster of a clustering model as a segment (rule ``<model> = <cluster>``)."""
    dmp = dmp_of(request)
    found = next((m for m in cluster_models(request) if m["model"] == model), None)
    info = next((c for c in (found or {}).get("clusters", [])
                 if int(c["cluster"]) == cluster), None)
    if found is None or info is None:
        return render(request, "message.html", {
            "error": f"model: no clustering model {model!r} with a cluster {cluster}",
            "back": "/analysis"}, viewer=viewer, status=400)
    label = "noise" if cluster == -1 else str(cluster)
    try:
        row = dmp.segments.create(f"{model.removeprefix('cluster_')} {label}",
                                  f"{model} = {cluster}",
                                  description=str(info.get("description") or "") or None)
    except AidmpError as exc:
        return render(request, "message.html", {"error": str(exc), "back": "/analysis"},
                      viewer=viewer, status=400)
    dmp.audit.record(viewer.key.key_id, "segments.create", row["id"])
    return redirect(f"/segments/{row['id']}")


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
