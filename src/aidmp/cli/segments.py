"""``aidmp segments create|list|show|size|members|export|delete|overlap|refresh``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from aidmp.cli.client import call, run_job, server
from aidmp.cli.common import AsOfOption, HomeOption, JsonOption, as_of_text, open_dmp
from aidmp.cli.output import console, emit_json, summary, table
from aidmp.cli.profile_stats import TraitsOption, show_stats
from aidmp.errors import ValidationError

if TYPE_CHECKING:
    from aidmp.dmp import DMP

app = typer.Typer(help="Audiences: rule segments, their size, members and history.",
                  no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(help="Segment id (the slug of its name).")]


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="Display name; the id is its slug.")],
    rule: Annotated[str | None, typer.Option(help='Rule text, e.g. age > 30 and consent("email")'
                                             )] = None,
    spec: Annotated[Path | None, typer.Option(help="JSON spec file instead of a rule.")] = None,
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
    realtime: Annotated[bool, typer.Option(help="Keep membership live in serve.")] = False,
    webhook_url: Annotated[str | None, typer.Option(help="Push membership changes here.")] = None,
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """Check, compile and save a segment."""
    if spec is not None and not spec.is_file():
        raise ValidationError(f"{spec} not found", field="--spec")
    spec_text = spec.read_text() if spec else None

    def local(dmp: DMP) -> dict[str, Any]:
        shown = dmp.segments.create(
            name, rule=rule, spec=spec_text, description=description, realtime=realtime,
            webhook_url=webhook_url)
        dmp.audit.record("cli", "segments.create", shown["id"], {"realtime": realtime})
        return shown

    body = {"name": name, "rule": rule, "description": description, "realtime": realtime,
            "webhook_url": webhook_url,
            "spec": orjson.loads(spec_text) if spec_text is not None else None}
    _show(call(home, "create_v1_segments_post", body=body, local=local), json)


def _show(shown: dict[str, Any], json: bool) -> None:
    if json:
        emit_json(shown)
        return
    summary(f"segment {shown['id']}", {k: v for k, v in shown.items() if k not in ("spec", "sql")})
    console.print(shown["sql"], highlight=False, soft_wrap=True)


@app.command("list")
def list_(home: HomeOption = None, json: JsonOption = False) -> None:
    """Every segment."""
    rows = call(home, "list__v1_segments_get", local=lambda dmp: dmp.segments.list())
    if json:
        emit_json(rows)
        return
    table("segments", ["id", "name", "realtime", "rule"],
          [(r["id"], r["name"], r["realtime"], r["rule"]) for r in rows])


@app.command()
def show(segment_id: IdArg, home: HomeOption = None, json: JsonOption = False) -> None:
    """Rule, spec, SQL, size and real-time capability."""
    _show(call(home, "show_v1_segments__segment_id__get", {"segment_id": segment_id},
               local=lambda dmp: dmp.segments.show(segment_id)), json)


@app.command()
def size(
    segment_id: Annotated[str | None, typer.Argument(help="Segment id.")] = None,
    rule: Annotated[str | None, typer.Option(help="Size an unsaved rule instead.")] = None,
    home: HomeOption = None, json: JsonOption = False, as_of: AsOfOption = None,
) -> None:
    """How many profiles are in a segment (or would be in an unsaved rule); ``--as-of``
    evaluates its event windows at that instant."""
    if (segment_id is None) == (rule is None):
        raise ValidationError("give a segment id or --rule", field="segment")
    when = as_of_text(as_of)
    if segment_id:
        out = call(home, "size_v1_segments__segment_id__size_get",
                   {"segment_id": segment_id, "as_of": when},
                   local=lambda dmp: dmp.segments_at(
                       None if when is None else datetime.fromisoformat(when)
                   ).size(segment_id))
    else:
        out = call(home, "estimate_v1_segments_estimate_post",
                   body={"rule": rule, "as_of": when},
                   local=lambda dmp: dmp.segments_at(
                       None if when is None else datetime.fromisoformat(when)
                   ).estimate(rule=rule))
    if json:
        emit_json(out)
    else:
        summary("size", out)


@app.command()
def describe(segment_id: IdArg, home: HomeOption = None, json: JsonOption = False,
             traits: TraitsOption = None) -> None:
    """Statistics of traits for the segment beside every profile (count, mean, median, std,
    quartiles; top values of texts)."""
    report = call(home, "describe_v1_segments__segment_id__describe_get",
                  {"segment_id": segment_id, "traits": traits},
                  local=lambda dmp: dmp.segments.describe(segment_id, traits))
    if json:
        emit_json(report)
        return
    console.print(f"{report['segment']:,} of {report['profiles']:,} profiles in {segment_id}")
    show_stats(report, ["segment", "population"])


@app.command()
def members(
    segment_id: IdArg,
    page: Annotated[int, typer.Option(min=1, help="Page number.")] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=10_000, help="Ids per page.")] = 100,
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """One page of member profile ids."""
    out = call(home, "members_v1_segments__segment_id__members_get",
               {"segment_id": segment_id, "page": page, "page_size": page_size},
               local=lambda dmp: dmp.segments.members(segment_id, page=page,
                                                      page_size=page_size))
    if json:
        emit_json(out)
        return
    table(f"{segment_id}: page {page} ({out['size']} members)", ["profile_id"],
          [(p,) for p in out["profile_ids"]])


@app.command()
def export(
    segment_id: IdArg, path: Annotated[Path, typer.Argument(help="File to write.")],
    format: Annotated[str | None, typer.Option(help="csv or parquet [default: by suffix].")
                      ] = None,
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """Write the members (profile id, user id, e-mail) to CSV or Parquet."""
    client = server(home)
    if client is None:
        with open_dmp(home) as dmp:
            out = dmp.segments.export(segment_id, path, format)  # type: ignore[arg-type]
            dmp.audit.record("cli", "segments.export", segment_id, {"rows": out["rows"]})
    else:  # the server writes the file; it streams here and is written at PATH
        fmt = format or ("parquet" if path.suffix in (".parquet", ".pq") else "csv")
        headers = client.download("segments_export", {"segment_id": segment_id,
                                                      "format": fmt}, path)
        out = {"id": segment_id, "path": str(path), "format": fmt,
               "rows": int(headers["x-rows"])}
    if json:
        emit_json(out)
    else:
        summary("export", out)


@app.command()
def delete(segment_id: IdArg, home: HomeOption = None, json: JsonOption = False) -> None:
    """Delete a segment and its membership history."""
    def local(dmp: DMP) -> dict[str, Any]:
        dmp.segments.delete(segment_id)
        dmp.audit.record("cli", "segments.delete", segment_id, {})
        return {"id": segment_id, "deleted": True}

    out = call(home, "delete_v1_segments__segment_id__delete", {"segment_id": segment_id},
               local=local)
    if json:
        emit_json(out)
    else:
        console.print(f"deleted {segment_id}")


@app.command()
def overlap(
    segment_ids: Annotated[list[str], typer.Argument(help="Two or more segment ids.")],
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """Intersection sizes of every pair of segments."""
    out = call(home, "overlap_v1_segments_overlap_post", body={"segments": segment_ids},
               local=lambda dmp: dmp.segments.overlap(segment_ids))
    if json:
        emit_json(out)
        return
    table("overlap", ["", *out["segments"]],
          [(s, *row) for s, row in zip(out["segments"], out["matrix"], strict=True)])


@app.command()
def refresh(
    segment_ids: Annotated[list[str] | None, typer.Argument(help="Only these segments.")] = None,
    build_id: Annotated[str | None, typer.Option(help="Build id stored as the trigger.")] = None,
    home: HomeOption = None, json: JsonOption = False, as_of: AsOfOption = None,
) -> None:
    """Materialise membership with history (entries and exits); ``--as-of`` evaluates the
    event windows at that instant."""
    reports = run_job(home, "segments.refresh",
                      {"segment_ids": segment_ids or None, "build_id": build_id,
                       "as_of": as_of_text(as_of)},
                      label="refresh", show_progress=not json)
    if json:
        emit_json(reports)
        return
    table("refresh", ["segment", "entered", "exited", "stayed", "size"],
          [(r["segment_id"], r["entered"], r["exited"], r["stayed"], r["size"]) for r in reports])


def _features(text: str | None) -> list[str] | None:
    return [f.strip() for f in text.split(",") if f.strip()] if text else None


@app.command()
def cluster(
    name: Annotated[str, typer.Argument(help="Name of the clustering (segments: NAME 0, 1...).")],
    features: Annotated[str | None, typer.Option(
        help="Comma-separated profile columns [default: chosen automatically].")] = None,
    method: Annotated[str, typer.Option(help="kmeans | dbscan | agglomerative")] = "kmeans",
    k: Annotated[int | None, typer.Option(min=2, help="Clusters [default: by silhouette].")]
    = None,
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """Cluster the profiles and save each cluster as a segment, described in plain words
    (a ``segments.cluster`` job on the server when one holds the home)."""
    if method not in ("kmeans", "dbscan", "agglomerative"):
        raise ValidationError(f"unknown method {method!r}; valid: kmeans, dbscan, "
                              "agglomerative", field="method")
    out = run_job(home, "segments.cluster", {"name": name, "features": _features(features),
                                             "method": method, "k": k},
                  label="cluster", show_progress=not json)
    if json:
        emit_json(out)
        return
    table(f"clusters of {name}", ["segment", "size", "share", "description"],
          [(c["segment_id"], c["size"], f"{c['share']:.1%}", c["description"])
           for c in out["clusters"]])
    console.print(f"plot: {out['plots'].get('png')} and {out['plots'].get('html')}")


@app.command()
def lookalike(
    seed: Annotated[str, typer.Argument(help="Seed segment id.")],
    name: Annotated[str, typer.Option(help="Name of the new segment.")],
    top_percent: Annotated[float | None, typer.Option(min=0.01, max=100)] = 10.0,
    top_n: Annotated[int | None, typer.Option(min=1, help="Instead of --top-percent.")] = None,
    features: Annotated[str | None, typer.Option(help="Comma-separated profile columns.")]
    = None,
    purpose: Annotated[str, typer.Option(help="Consent purpose respected.")] = "advertising",
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """People most similar to a seed segment, with the expected precision and recall
    (a ``segments.lookalike`` job on the server when one holds the home)."""
    out = run_job(home, "segments.lookalike",
                  {"seed": seed, "name": name, "top_percent": top_percent, "top_n": top_n,
                   "features": _features(features), "purpose": purpose},
                  label="lookalike", show_progress=not json)
    if json:
        emit_json(out)
        return
    summary(f"lookalikes of {seed}", {**{k: v for k, v in out.items() if k != "expected"},
                                      **{f"expected {k}": v for k, v in out["expected"].items()}})
