"""Profiles: find a person by any identifier (POST, so identifiers stay out of URLs), their
page (traits with provenance, computed traits, RFM, interests, identities and merges, segments,
predictions with explanations, recommendations, consent) and their paged timeline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from aidmp.dashboard import charts, queries
from aidmp.dashboard.web import (
    Viewer,
    aggregate,
    dmp_of,
    gettext_for,
    known_segments,
    need,
    posted,
    redirect,
    render,
)
from aidmp.errors import AidmpError, NotFoundError

router = APIRouter()
PAGE_SIZE = 20
_RFM = "rfm_"
_PREDICTION = ("clv_", "p_", "expected_", "churn", "propensity", "score_")
_SKIP = {"profile_id", "identifiers"}


def id_types(request: Request) -> list[str]:
    """The identifier types the identity rules know, strongest first."""
    return [t.name for t in dmp_of(request).identity.rules.types]


@router.get("/profiles", response_class=HTMLResponse)
def profiles(request: Request, viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """Search (with the personal-data permission) and the profile aggregates."""
    dmp = dmp_of(request)
    return render(request, "profiles.html", _search_context(request, viewer) | {
        "totals": aggregate(request, "profiles.totals", lambda: queries.profile_totals(dmp)),
        "rfm": aggregate(request, "profiles.rfm", lambda: queries.rfm_segments(dmp)),
    }, viewer=viewer)


def _search_context(request: Request, viewer: Viewer) -> dict[str, Any]:
    return {"id_types": id_types(request) if viewer.can("personal_data") else [],
            "charts": False}


def find(request: Request, id_type: str, value: str) -> str:
    """The profile id of an identifier; ``any`` tries every type, e-mail first for an '@'."""
    dmp = dmp_of(request)
    if id_type == "profile_id":
        dmp.profiles.by_id(value)  # raises NotFoundError when not built
        return value
    types = id_types(request) if id_type == "any" else [id_type]
    if id_type == "any" and "@" in value and "email" in types:
        types = ["email", *(t for t in types if t != "email")]
    for t in types:
        try:
            return dmp.identity.profile_of(t, value)
        except NotFoundError:
            continue
    raise NotFoundError("no profile has this identifier")


@router.post("/profiles/search")
def search(request: Request, id_type: str = Form("any", max_length=64),
           value: str = Form(..., min_length=1, max_length=500),
           viewer: Viewer = Depends(posted("personal_data"))) -> Response:
    """Look an identifier up and open the person's page (404 page with the form when none)."""
    dmp = dmp_of(request)
    valid = {"any", "profile_id", *id_types(request)}
    problem = None
    if id_type not in valid:
        problem = "type"
    else:
        try:
            profile_id = find(request, id_type, value.strip())
            dmp.audit.record(viewer.key.key_id, "dashboard.profile_search", profile_id)
            return redirect(f"/profiles/{profile_id}")
        except AidmpError:
            problem = "none"
    return render(request, "profiles.html", _search_context(request, viewer) | {
        "totals": queries.profile_totals(dmp), "rfm": queries.rfm_segments(dmp),
        "problem": problem, "id_type": id_type}, viewer=viewer, status=404)


def sections(row: dict[str, Any], trait_keys: set[str]) -> dict[str, list[tuple[str, Any]]]:
    """The wide row's columns grouped for display: computed traits, RFM, predictions."""
    out: dict[str, list[tuple[str, Any]]] = {"computed": [], "rfm": [], "predictions": []}
    for k, v in row.items():
        if k in _SKIP or k in trait_keys or k.startswith("interest_") or k.startswith("trait_"):
            continue
        if k.startswith(_RFM):
            out["rfm"].append((k, v))
        elif k.startswith(_PREDICTION):
            out["predictions"].append((k, v))
        else:
            out["computed"].append((k, v))
    return out


@router.get("/profiles/{profile_id}", response_class=HTMLResponse)
def person(request: Request, profile_id: str,
           viewer: Viewer = Depends(need("personal_data"))) -> HTMLResponse:
    """One person's page."""
    dmp = dmp_of(request)
    try:
        data = dmp.profiles.by_id(profile_id)
    except NotFoundError:
        return render(request, "profile_missing.html", {}, viewer=viewer, status=404)
    dmp.audit.record(viewer.key.key_id, "dashboard.profile_view", profile_id)
    trait_keys = {str(t["key"]) for t in data["traits"]}
    interests = data["interests"]
    _ = gettext_for(viewer.locale)
    names = {s["id"]: s["name"] for s in known_segments(request)}
    spells = [{**s, "name": names.get(s["segment_id"], s["segment_id"])}
              for s in queries.profile_segments(dmp, profile_id)]
    return render(request, "profile.html", {
        "p": data, "groups": sections(data["profile"], trait_keys),
        "merges": dmp.identity.merges(profile_id, limit=20),
        "segments": spells, "consents": queries.profile_consents(dmp, profile_id),
        "charts": bool(interests),
        "interest_chart": charts.bars(list(interests)[::-1], {
            _("Interest"): [round(float(v), 3) for v in list(interests.values())[::-1]]},
            horizontal=True) if interests else None,
        "timeline": timeline_page(request, profile_id, 1),
    }, viewer=viewer)


def timeline_page(request: Request, profile_id: str, page: int) -> dict[str, Any]:
    """One page of a person's events, newest first."""
    got = dmp_of(request).profiles.events(profile_id, page=page, size=PAGE_SIZE)
    pages = max(1, -(-int(got["total"]) // PAGE_SIZE))
    return {**got, "pages": pages, "profile_id": profile_id}


@router.get("/profiles/{profile_id}/timeline", response_class=HTMLResponse)
def timeline(request: Request, profile_id: str, page: int = 1,
             viewer: Viewer = Depends(need("personal_data"))) -> HTMLResponse:
    """The timeline's fragment for one page (htmx swaps it in place)."""
    page = max(1, min(page, 100_000))
    return render(request, "partials/timeline.html",
                  {"timeline": timeline_page(request, profile_id, page)}, viewer=viewer)


@router.get("/profiles/{profile_id}/models", response_class=HTMLResponse)
def predictions(request: Request, profile_id: str,
                viewer: Viewer = Depends(need("personal_data"))) -> HTMLResponse:
    """Explanations of this person's propensity scores and their recommendations (loaded after
    the page, since each runs a model)."""
    dmp = dmp_of(request)
    explained: list[dict[str, Any]] = []
    recommended: list[dict[str, Any]] = []
    for m in dmp.models.list():
        if m.get("status") != "active":
            continue
        try:
            if m["kind"] in ("propensity", "churn"):
                explained.append({"model": m["name"],
                                  **dmp.models.explain(m["name"], profile_id, top=5)})
            elif m["kind"] in ("recommend", "recommender") and not recommended:
                recommended = list(dmp.models.recommend(profile_id, n=8, name=m["name"]))
        except AidmpError:
            continue
    return render(request, "partials/predictions.html",
                  {"explained": explained, "recommended": recommended}, viewer=viewer)


@router.post("/profiles/{profile_id}/unmerge/{merge_id}")
def unmerge(request: Request, profile_id: str, merge_id: str,
            viewer: Viewer = Depends(posted("identity_manage"))) -> Response:
    """Undo a merge (the two sides are kept apart from then on) and go back to the person."""
    dmp = dmp_of(request)
    dmp.identity.unmerge(merge_id)
    dmp.audit.record(viewer.key.key_id, "identity.unmerge", merge_id)
    return redirect(f"/profiles/{profile_id}")
