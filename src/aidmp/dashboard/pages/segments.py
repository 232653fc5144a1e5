"""Segments: the list with sizes, the rule builder (inline errors at the parser's position, live
size while typing, save) and a segment's page (members, entries and exits, overlap, syncs)."""

from __future__ import annotations

import functools
import re
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
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
from aidmp.errors import AidmpError, NotFoundError, ValidationError

router = APIRouter()
APPROXIMATE_ABOVE = 200_000
"""Above this many profiles the live size is estimated from a fixed 1 % sample."""
MEMBERS_PAGE = 25
CACHED_PAGES = 10
"""Member pages up to this one are kept per data version."""
_AT = re.compile(r"at (\d+):(\d+)")


def rule_problem(rule: str, exc: AidmpError) -> dict[str, Any]:
    """A parser error placed in the rule: message, line, column, the line with the spot marked,
    and the suggestion (the message's part after ``;``)."""
    message = exc.message if isinstance(exc, ValidationError) else str(exc)
    out: dict[str, Any] = {"message": message, "line": None, "column": None,
                           "suggestion": None, "before": "", "at": "", "after": ""}
    found = _AT.search(message)
    if found:
        line, col = int(found.group(1)), int(found.group(2))
        lines = rule.splitlines() or [""]
        text = lines[min(line, len(lines)) - 1]
        i = max(0, min(col - 1, len(text)))
        end = i + 1
        while end < len(text) and (text[end].isalnum() or text[end] == "_") \
                and (text[i].isalnum() or text[i] == "_"):
            end += 1
        out.update(line=line, column=col, before=text[:i], at=text[i:end] or " ",
                   after=text[end:])
    if "; " in message:
        out["message"], out["suggestion"] = message.split("; ", 1)
    return out


def traits(request: Request) -> list[str]:
    """The profile columns a rule may name (shown as help beside the builder)."""
    eng = dmp_of(request).engine
    return [c for c in eng.table("profiles").columns if c != "profile_id"] \
        if eng.has_table("profiles") else []


@router.get("/segments", response_class=HTMLResponse)
def segment_list(request: Request, saved: str | None = None,
                 viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """Every segment with its size now."""
    dmp = dmp_of(request)

    def size_of(segment_id: str) -> dict[str, Any] | None:
        try:
            return dmp.segments.size(segment_id, approximate_above=APPROXIMATE_ABOVE)
        except AidmpError:
            return None

    rows = [{**s, "size": aggregate(request, f"segment.size:{s['id']}",
                                    functools.partial(size_of, s["id"]))}
            for s in known_segments(request)]
    return render(request, "segments.html", {"segments": rows, "saved": saved},
                  viewer=viewer)


@router.get("/segments/new", response_class=HTMLResponse)
def builder(request: Request, viewer: Viewer = Depends(need("segments_edit"))) -> HTMLResponse:
    """The rule builder."""
    return render(request, "segment_new.html", {"traits": traits(request), "form": {}},
                  viewer=viewer)


@router.post("/segments/check", response_class=HTMLResponse)
def check(request: Request, rule: str = Form("", max_length=10_000),
          viewer: Viewer = Depends(posted("aggregates"))) -> HTMLResponse:
    """The builder's live answer: where the rule is wrong and what would fit, or its size."""
    context: dict[str, Any] = {"rule": rule}
    if rule.strip():
        try:
            context["estimate"] = dmp_of(request).segments.estimate(
                rule, approximate_above=APPROXIMATE_ABOVE)
        except AidmpError as exc:
            context["problem"] = rule_problem(rule, exc)
    return render(request, "partials/rule_check.html", context, viewer=viewer)


@router.post("/segments")
def save(request: Request, name: str = Form("", max_length=200),
         rule: str = Form("", max_length=10_000), description: str = Form("", max_length=1000),
         viewer: Viewer = Depends(posted("segments_edit"))) -> Response:
    """Save a segment; on a bad rule or name the builder comes back with the error."""
    dmp = dmp_of(request)
    try:
        row = dmp.segments.create(name.strip(), rule, description=description.strip() or None)
    except AidmpError as exc:
        problem = rule_problem(rule, exc) if getattr(exc, "field", None) == "rule" else None
        return render(request, "segment_new.html", {
            "traits": traits(request), "problem": problem, "error": str(exc),
            "form": {"name": name, "rule": rule, "description": description}},
            viewer=viewer, status=400)
    dmp.audit.record(viewer.key.key_id, "segments.create", row["id"])
    return redirect(f"/segments?saved={row['id']}")


@router.get("/segments/{segment_id}", response_class=HTMLResponse)
def segment(request: Request, segment_id: str,
            viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """A segment's page."""
    dmp = dmp_of(request)
    try:
        seg = dmp.segments.get(segment_id)
    except NotFoundError:
        return render(request, "segment_missing.html", {}, viewer=viewer, status=404)
    size = aggregate(request, f"segment.size:{segment_id}", lambda: dmp.segments.size(
        segment_id, approximate_above=APPROXIMATE_ABOVE))
    changes = aggregate(request, f"segment.changes:{segment_id}",
                        lambda: queries.membership_changes(dmp, segment_id))
    _ = gettext_for(viewer.locale)
    others = [s for s in known_segments(request) if s["id"] != segment_id]
    try:
        syncs = dmp.audiences.history(segment_id)
    except (AidmpError, TypeError, AttributeError):
        syncs = None
    return render(request, "segment.html", {
        "s": seg, "size": size, "others": others, "syncs": syncs,
        "charts": bool(changes),
        "history_chart": charts.bars([c["day"] for c in changes], {
            _("Entered"): [c["entered"] for c in changes],
            _("Left"): [-c["exited"] for c in changes]}, stacked=True) if changes else None,
        "members": members_page(request, segment_id, 1)
        if viewer.can("personal_data") else None,
    }, viewer=viewer)


def members_page(request: Request, segment_id: str, page: int) -> dict[str, Any]:
    """One page of a segment's members (profile ids); the first pages are kept until the
    store's data changes (each evaluates the rule over every profile and counts them)."""
    def read() -> dict[str, Any]:
        return dmp_of(request).segments.members(segment_id, page=page, page_size=MEMBERS_PAGE)

    got: dict[str, Any] = cached(request, f"segment.members:{segment_id}:{page}", read) \
        if page <= CACHED_PAGES else read()
    return {**got, "pages": max(1, -(-int(got["size"]) // MEMBERS_PAGE))}


@router.get("/segments/{segment_id}/members", response_class=HTMLResponse)
def members(request: Request, segment_id: str, page: int = Query(1, ge=1, le=1_000_000),
            viewer: Viewer = Depends(need("personal_data"))) -> HTMLResponse:
    """The members fragment for one page."""
    return render(request, "partials/members.html",
                  {"members": members_page(request, segment_id, page), "s": {"id": segment_id}},
                  viewer=viewer)


@router.get("/segments/{segment_id}/overlap", response_class=HTMLResponse)
def overlap(request: Request, segment_id: str,
            other: list[str] = Query(default_factory=list, max_length=8),
            viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """The overlap matrix of this segment with the chosen others."""
    dmp = dmp_of(request)
    ids = [segment_id, *(o for o in other if o != segment_id)]
    names = {s["id"]: s["name"] for s in known_segments(request)}
    try:
        result = dmp.segments.overlap(ids)
    except AidmpError as exc:
        return render(request, "partials/overlap.html", {"error": str(exc)}, viewer=viewer)
    return render(request, "partials/overlap.html", {
        "ids": ids, "names": names, "matrix": result["matrix"]}, viewer=viewer)


@router.post("/segments/{segment_id}/delete")
def delete(request: Request, segment_id: str,
           viewer: Viewer = Depends(posted("segments_edit"))) -> Response:
    """Delete a segment (refused while another rule uses it)."""
    dmp = dmp_of(request)
    dmp.segments.delete(segment_id)
    dmp.audit.record(viewer.key.key_id, "segments.delete", segment_id)
    return redirect("/segments")


@router.get("/segments/{segment_id}/export.csv")
def export(request: Request, segment_id: str,
           viewer: Viewer = Depends(need("personal_data"))) -> Response:
    """The members with their identifiers as a CSV download (written to a temporary file)."""
    import tempfile
    from pathlib import Path

    dmp = dmp_of(request)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{segment_id}.csv"
        dmp.segments.export(segment_id, path, format="csv")
        body = path.read_bytes()
    dmp.audit.record(viewer.key.key_id, "segments.export", segment_id)
    return Response(body, media_type="text/csv", headers={
        "content-disposition": f'attachment; filename="{segment_id}.csv"',
        "cache-control": "no-store"})
