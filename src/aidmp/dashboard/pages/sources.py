"""Sources & quality: volumes and freshness per source, the quality report, the quarantine
(reasons, replay with a changed mapping) and imports by upload (mapping form, preview)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from aidmp.dashboard import queries
from aidmp.dashboard.web import Viewer, aggregate, cached, dmp_of, need, posted, redirect, render
from aidmp.errors import AidmpError, PayloadTooLarge, ValidationError
from aidmp.spec.imports import ImportMapping

router = APIRouter()
MAX_UPLOAD = 50 * 1024 * 1024
"""Largest file the upload form takes (bigger files: ``aidmp import`` from a shell)."""
SUFFIXES = (".csv", ".ndjson", ".jsonl", ".json", ".parquet")
PREVIEW_ROWS = 8


def _page(request: Request, viewer: Viewer, status: int = 200, **extra: Any) -> HTMLResponse:
    dmp = dmp_of(request)
    waiting = dmp.quarantine.list(limit=50) if viewer.can("personal_data") else []
    return render(request, "sources.html", {
        "sources": aggregate(request, "sources", lambda: queries.source_freshness(dmp)),
        "waiting": waiting,
        "waiting_count": dmp.quarantine.count(), "form": {}, **extra}, viewer=viewer,
        status=status)


@router.get("/sources", response_class=HTMLResponse)
def sources(request: Request, replayed: str | None = None,
            viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """The sources page; the quality report loads after it (it reads every column)."""
    return _page(request, viewer, replayed=replayed)


@router.get("/sources/quality", response_class=HTMLResponse)
def quality(request: Request, viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """The quality report fragment (cached until the data changes)."""
    dmp = dmp_of(request)
    report = cached(request, "quality", dmp.quality.report)
    return render(request, "partials/quality.html", {"report": report}, viewer=viewer)


@router.post("/sources/quarantine/replay")
def replay(request: Request, source: str = Form("", max_length=64),
           timestamp_format: str = Form("", max_length=64),
           viewer: Viewer = Depends(posted("sources_manage"))) -> Response:
    """Replay the waiting records (of one source), optionally with another timestamp format."""
    dmp = dmp_of(request)
    overrides = {"timestamp_format": timestamp_format} if timestamp_format.strip() else None
    report = dmp.quarantine.replay(source=source or None, mapping_overrides=overrides)
    dmp.audit.record(viewer.key.key_id, "quarantine.replay", source or None, report.to_dict())
    return redirect(f"/sources?replayed={report.stored}")


def _mapping(form: dict[str, str]) -> ImportMapping:
    fields = {k: v.strip() for k, v in form.items() if v and v.strip()}
    return ImportMapping(**fields)


def preview_rows(path: Path) -> tuple[list[str], list[list[Any]]]:
    """The first rows of an uploaded file, as text, for the mapping form."""
    import polars as pl

    suffix = path.suffix.lower()
    if suffix == ".csv":
        df = pl.read_csv(path, n_rows=PREVIEW_ROWS, infer_schema=False)
    elif suffix == ".parquet":
        df = pl.read_parquet(path, n_rows=PREVIEW_ROWS)
    else:
        df = pl.read_ndjson(path, n_rows=PREVIEW_ROWS)
    return df.columns, [[None if v is None else str(v) for v in row] for row in df.rows()]


@router.post("/sources/import", response_class=HTMLResponse)
def upload(request: Request, file: UploadFile = File(...),
           action: str = Form("preview", pattern="^(preview|import)$"),
           source: str = Form(..., max_length=64), type: str = Form("track", max_length=16),
           event: str = Form("", max_length=200), user_id_column: str = Form("", max_length=200),
           anonymous_id_column: str = Form("", max_length=200),
           timestamp_column: str = Form("", max_length=200),
           timestamp_format: str = Form("", max_length=64),
           viewer: Viewer = Depends(posted("sources_manage"))) -> HTMLResponse:
    """Preview the first rows of an upload, or import it with the mapping."""
    form = {"source": source, "type": type, "event": event, "user_id_column": user_id_column,
            "anonymous_id_column": anonymous_id_column, "timestamp_column": timestamp_column,
            "timestamp_format": timestamp_format}
    dmp = dmp_of(request)
    name = Path(file.filename or "upload.csv").name
    suffix = Path(name).suffix.lower()
    try:
        if suffix not in SUFFIXES:
            raise ValidationError(f"use a {', '.join(SUFFIXES)} file", field="file")
        if (file.size or 0) > MAX_UPLOAD:
            raise PayloadTooLarge(f"the file is over {MAX_UPLOAD // 2**20} MB; import it with "
                                  "`aidmp import`", field="file")
        mapping = _mapping(form)
        folder = dmp.home / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{secrets.token_hex(8)}{suffix}"
        path.write_bytes(file.file.read(MAX_UPLOAD + 1)[:MAX_UPLOAD])
        columns, rows = preview_rows(path)
        if action == "preview":
            path.unlink()
            return _page(request, viewer, form=form, preview={"columns": columns, "rows": rows})
        report = dmp.imports.file(path, mapping)
        dmp.audit.record(viewer.key.key_id, "imports.file", source, {
            "read": report.read, "stored": report.stored})
        return _page(request, viewer, form=form, imported=report)
    except (AidmpError, ValueError) as exc:
        return _page(request, viewer, form=form, import_error=str(exc), status=400)
