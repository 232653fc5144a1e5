"""Campaigns: ROI / ROAS by channel and campaign, attribution models side by side, experiments,
and the budget optimiser (a budget slider -> the allocation, answered by htmx)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse

from aidmp.dashboard import charts, queries
from aidmp.dashboard.web import (
    Viewer,
    aggregate,
    cached,
    dmp_of,
    gettext_for,
    need,
    posted,
    render,
)
from aidmp.errors import AidmpError

router = APIRouter()


def fitted_optimiser(request: Request) -> Any:
    """The budget optimiser fitted on the store's own spend and return per day (a store-wide
    aggregate, refitted in the background while events arrive), or None when no channel has
    three different spends."""
    from aidmp.campaigns.optimiser.model import BudgetOptimiser

    def fit() -> Any:
        try:
            history = dmp_of(request).campaigns.history(period="day", fittable=True)
        except AidmpError:  # no events or no costs yet
            return None
        if history.num_rows == 0:
            return None
        return BudgetOptimiser().fit(history)

    return aggregate(request, "optimiser", fit)


def roi(request: Request, by: str) -> list[dict[str, Any]]:
    """Return per channel or campaign; none before events with touchpoints exist."""
    try:
        return dmp_of(request).campaigns.roi(by=by)  # type: ignore[no-any-return]
    except AidmpError:
        return []


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns(request: Request, viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """ROI, experiments and the optimiser; attribution loads after the page (it is slow)."""
    dmp = dmp_of(request)
    by_channel = aggregate(request, "roi.channel", lambda: roi(request, "channel"))
    by_campaign = aggregate(request, "roi.campaign", lambda: roi(request, "campaign"))
    _ = gettext_for(viewer.locale)
    opt = fitted_optimiser(request)
    current = sum(opt.current_.values()) if opt is not None else 0.0
    context: dict[str, Any] = {
        "charts": bool(by_channel), "by_channel": by_channel, "by_campaign": by_campaign,
        "experiments": queries.experiment_ids(dmp), "optimiser": opt is not None,
        "current_total": current, "max_total": max(1.0, round(current * 3, 2)),
    }
    if by_channel:
        context["roi_chart"] = charts.bars([r["channel"] for r in by_channel], {
            _("Revenue"): [round(r["revenue"], 2) for r in by_channel],
            _("Cost"): [round(r["cost"], 2) for r in by_channel]})
    if opt is not None:
        context["allocation"] = allocation(request, current, viewer.locale)
    return render(request, "campaigns.html", context, viewer=viewer)


def allocation(request: Request, total: float, locale: str) -> dict[str, Any]:
    """The optimiser's allocation of ``total`` per day across channels."""
    _ = gettext_for(locale)
    opt = fitted_optimiser(request)
    got: dict[str, Any] = opt.allocate(total).to_dict()
    rows = got["channels"]
    got["chart"] = charts.bars([r["channel"] for r in rows], {
        _("Spend now"): [round(r["current_spend"], 2) for r in rows],
        _("Optimised spend"): [round(r["spend"], 2) for r in rows]})
    return got


@router.post("/campaigns/optimise", response_class=HTMLResponse)
def optimise(request: Request, total: float = Form(..., ge=0, le=1e12),
             viewer: Viewer = Depends(posted("campaigns_plan"))) -> HTMLResponse:
    """The allocation fragment for the slider's budget."""
    if fitted_optimiser(request) is None:
        return render(request, "partials/allocation.html", {"allocation": None}, viewer=viewer)
    got = allocation(request, total, viewer.locale)
    return render(request, "partials/allocation.html", {"allocation": got}, viewer=viewer)


@router.get("/campaigns/attribution", response_class=HTMLResponse)
def attribution(request: Request, viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """Every attribution model side by side (fragment)."""
    dmp = dmp_of(request)
    try:
        got = aggregate(request, "attribution", lambda: dmp.campaigns.attribution())
    except AidmpError as exc:
        return render(request, "partials/attribution.html", {"error": str(exc)}, viewer=viewer)
    return render(request, "partials/attribution.html", {"a": got}, viewer=viewer)


@router.get("/campaigns/experiments/{experiment_id}", response_class=HTMLResponse)
def experiment(request: Request, experiment_id: str,
               viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """An experiment's arms compared with the control (fragment)."""
    dmp = dmp_of(request)
    try:
        got = cached(request, f"experiment:{experiment_id}",
                     lambda: dmp.campaigns.experiment(experiment_id))
    except AidmpError as exc:
        return render(request, "partials/experiment.html", {"error": str(exc)}, viewer=viewer)
    return render(request, "partials/experiment.html", {
        "e": got, "x": experiment_id, "features": numeric_columns(request)}, viewer=viewer)


def numeric_columns(request: Request) -> list[str]:
    """The numeric profile columns an uplift model may learn from."""
    eng = dmp_of(request).engine
    if not eng.has_table("profiles"):
        return []
    schema = eng.table("profiles").schema()
    return sorted(c for c, t in schema.items() if t.is_numeric() or t.is_boolean())


@router.get("/campaigns/experiments/{experiment_id}/uplift", response_class=HTMLResponse)
def uplift(request: Request, experiment_id: str,
           features: list[str] = Query(..., min_length=1, max_length=20),
           viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """Who responds: the cross-fitted uplift's Qini curve and coefficient per treatment
    (fragment; cached until the data changes)."""
    dmp = dmp_of(request)
    chosen = sorted(set(features))
    try:
        got = cached(request, f"uplift:{experiment_id}:{','.join(chosen)}",
                     lambda: dmp.campaigns.uplift(experiment_id, chosen))
    except AidmpError as exc:
        return render(request, "partials/qini.html", {"error": str(exc)}, viewer=viewer)
    reports = got["treatments"] if "treatments" in got else {got["treatment"]: got}
    _ = gettext_for(viewer.locale)
    arms = []
    for arm, report in reports.items():
        curve = report["qini_curve"]
        arms.append({"arm": arm, "qini": report["qini"], "people": report["people"],
                     "deciles": report["deciles"], "chart": charts.lines(
                         [f"{p['share']:.0%}" for p in curve], {
                             _("Uplift model"): [round(p["incremental"], 3) for p in curve],
                             _("Random targeting"): [round(p["random"], 3) for p in curve]})})
    return render(request, "partials/qini.html", {
        "arms": arms, "control": got["control"], "features": chosen}, viewer=viewer)
