"""Models: model cards (data, parameters, metrics, versions) and fit / score as jobs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from aidmp.dashboard.web import Viewer, dmp_of, need, posted, render
from aidmp.errors import AidmpError

router = APIRouter()
FITTABLE = ("clv", "rules", "recommend")
"""Kinds whose defaults fit on any store with orders (the others need a target event)."""


@router.get("/models", response_class=HTMLResponse)
def models(request: Request, viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """Every model's card, newest version first."""
    dmp = dmp_of(request)
    rows = dmp.models.list()
    cards: list[dict[str, Any]] = []
    for name in dict.fromkeys(r["name"] for r in rows):
        versions = [r for r in rows if r["name"] == name]
        try:
            card = dmp.models.show(name)
        except AidmpError:
            card = versions[0]
        cards.append({"name": name, "card": card, "versions": versions})
    return render(request, "models.html", {
        "cards": cards, "jobs": getattr(dmp, "jobs", None) is not None,
        "fittable": FITTABLE}, viewer=viewer)


@router.post("/models/jobs", response_class=HTMLResponse)
def model_job(request: Request, action: str = Form(..., pattern="^(fit|score)$"),
              target: str = Form(..., min_length=1, max_length=200),
              viewer: Viewer = Depends(posted("models_run"))) -> HTMLResponse:
    """Fit a model kind or score with a model, as a job whose progress the answer follows."""
    jobs = getattr(dmp_of(request), "jobs", None)
    if jobs is None:
        return render(request, "partials/job.html", {"error": "none"}, viewer=viewer)
    params = {"kind": target} if action == "fit" else {"name": target}
    try:
        job_id = jobs.submit(f"models.{action}", params,
                             submitted_by=f"key:{viewer.key.key_id}")
    except AidmpError:
        return render(request, "partials/job.html", {"error": "kind"}, viewer=viewer,
                      status=400)
    return render(request, "partials/job.html",
                  {"job": jobs.get(job_id), "final": ("succeeded", "failed", "cancelled")},
                  viewer=viewer)
