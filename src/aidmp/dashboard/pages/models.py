"""Models: model cards (data, parameters, metrics, versions) and fit / score as jobs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from aidmp.dashboard import charts
from aidmp.dashboard.web import Viewer, dmp_of, gettext_for, need, posted, render
from aidmp.errors import AidmpError
from aidmp.ml.cards import card_charts

router = APIRouter()
IMPORTANCES_SHOWN = 10
"""Features listed on a model card (largest importance first)."""
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
        cards.append({"name": name, "card": card, "versions": versions,
                      **card_chart_options(card, viewer.locale)})
    return render(request, "models.html", {
        "cards": cards, "jobs": getattr(dmp, "jobs", None) is not None,
        "fittable": FITTABLE, "charts": any(c["drawn"] for c in cards)}, viewer=viewer)


def card_chart_options(card: dict[str, Any], locale: str) -> dict[str, Any]:
    """The lift, calibration and importance charts of one model card (what the registry keeps,
    :func:`aidmp.ml.cards.card_charts`), and the importances as rows for a table."""
    _ = gettext_for(locale)
    got = card_charts(card)
    out: dict[str, Any] = {"importances": got["importances"][:IMPORTANCES_SHOWN],
                           "lift_chart": None, "calibration_chart": None,
                           "importance_chart": None}
    deciles = [str(r["decile"]) for r in got["lift"]]
    if got["lift"]:
        out["lift_chart"] = charts.bars(deciles, {
            _("Lift"): [round(float(r["lift"]), 3) for r in got["lift"]]})
    if got["calibration"]:
        out["calibration_chart"] = charts.lines(
            [str(r["decile"]) for r in got["calibration"]], {
                _("Predicted"): [round(float(r["mean_predicted"]), 4)
                                 for r in got["calibration"]],
                _("Observed"): [round(float(r["observed_rate"]), 4)
                                for r in got["calibration"]]})
    if out["importances"]:
        shown = out["importances"][::-1]  # largest at the top of a horizontal bar chart
        out["importance_chart"] = charts.bars([r["feature"] for r in shown], {
            _("Importance"): [round(r["importance"], 4) for r in shown]}, horizontal=True)
    out["drawn"] = any(out[k] for k in ("lift_chart", "calibration_chart", "importance_chart"))
    return out


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
