"""``aidmp build``, ``aidmp profiles get|events``, ``aidmp identity ...``, ``aidmp quality``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from aidmp.cli import matching, profile_stats
from aidmp.cli.client import call, run_job
from aidmp.cli.common import AsOfOption, HomeOption, JsonOption, as_of_text
from aidmp.cli.output import console, emit_json, summary, table
from aidmp.errors import ValidationError
from aidmp.spec.identity import split_identifier

profiles_app = typer.Typer(help="Look profiles up by any identifier.", no_args_is_help=True)
identity_app = typer.Typer(help="Identity resolution: resolve, merges, unmerge, match, review, "
                                "accept, reject, evaluate.",
                           no_args_is_help=True)
quality_app = typer.Typer(help="Data-quality reports.", no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(help="TYPE:VALUE, e.g. email:ann@x.com or user_id:42")]


FullOption = Annotated[bool, typer.Option(
    "--full", help="Recompute everything (the whole identity graph and, for a build, every "
                   "person), not only what new events touch.")]


def build_command(home: HomeOption = None, json: JsonOption = False,
                  full: FullOption = False, as_of: AsOfOption = None) -> None:
    """Resolve identities and rebuild profiles (progress per stage, summary at the end):
    incrementally, only the people whose events changed and then the ranks, unless ``--full``.
    ``--as-of`` builds the profiles as they stood at an instant (always a full build).
    A build job on the server when one holds the home."""
    data = run_job(home, "build", {"full": full, "as_of": as_of_text(as_of)}, label="build",
                   show_progress=not json)
    if json:
        emit_json(data)
        return
    table(f"build {data['build_id']}", ["stage", "seconds"], data["seconds"].items())
    summary("result", {k: v for k, v in data.items()
                       if k not in ("seconds", "build_id", "warnings")})
    for warning in data.get("warnings", []):
        typer.echo(f"warning: {warning}", err=True)


def _show(detail: dict[str, Any]) -> None:
    row = detail["profile"]
    shown = {k: v for k, v in row.items() if v is not None and not k.startswith("interest_")}
    summary(f"profile {detail['profile_id']}", shown)
    if detail["interests"]:
        table("interests", ["category", "score"],
              [(k, f"{v:.2f}") for k, v in list(detail["interests"].items())[:10]])
    table("identities", ["type", "value", "status", "first seen", "events", "sources"],
          [(i["id_type"], i["id_value"], i["status"], i["first_seen"], i["events"],
            i["sources"]) for i in detail["identities"]])
    table("traits", ["key", "value", "source", "updated", "rule"],
          [(t["key"], t["value"], t["source"], t["updated_at"], t["rule"])
           for t in detail["traits"]])
    if detail["since_build"]:
        summary("since the last build", detail["since_build"])


@profiles_app.command("get")
def get(ident: IdArg, home: HomeOption = None, json: JsonOption = False) -> None:
    """A profile: traits with provenance, computed traits, scores, identities."""
    id_type, value = split_identifier(ident)
    detail = call(home, "get_profile_v1_profiles__ident__get", {"ident": ident},
                  local=lambda dmp: dmp.profiles.get(id_type, value))
    if json:
        emit_json(detail)
        return
    _show(detail)


@profiles_app.command("events")
def events(
    ident: IdArg, home: HomeOption = None, json: JsonOption = False,
    page: Annotated[int, typer.Option(min=1)] = 1,
    size: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """The person's event timeline, newest first."""
    id_type, value = split_identifier(ident)
    out = call(home, "profile_events_v1_profiles__ident__events_get",
               {"ident": ident, "page": page, "size": size},
               local=lambda dmp: dmp.profiles.events(dmp.identity.profile_of(id_type, value),
                                                     page=page, size=size))
    if json:
        emit_json(out)
        return
    table(f"events {out['page']} of {-(-out['total'] // out['size'])} ({out['total']} in all)",
          ["time", "type", "event", "source"],
          [(e["timestamp"], e["type"], e["event"], e["source"]) for e in out["events"]])


@identity_app.command("resolve")
def resolve(home: HomeOption = None, json: JsonOption = False,
            full: FullOption = False) -> None:
    """Bring the identity graph up to date with the events (``aidmp build`` does this too):
    incremental unless a full run could give another answer, or ``--full``."""
    result = run_job(home, "identity.resolve", {"full": full}, label="identity",
                     show_progress=not json)
    if json:
        emit_json(result)
        return
    summary("identity resolution", result)


@identity_app.command("merges")
def merges(
    home: HomeOption = None, json: JsonOption = False,
    profile: Annotated[str | None, typer.Option(help="Only merges touching this profile.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """Merge records with rule and evidence, newest first."""
    rows = call(home, "merges_v1_identity_merges_get", {"profile_id": profile, "limit": limit},
                local=lambda dmp: dmp.identity.merges(profile, limit=limit))
    if json:
        emit_json(rows)
        return
    table("merges", ["id", "from", "into", "rule", "via", "when", "undone"],
          [(r["id"], r["from_profile"], r["into_profile"], r["rule"],
            r["evidence"].get("via_message_id"), r["created_at"], r["undone_at"])
           for r in rows])


@identity_app.command("unmerge")
def unmerge(merge_id: str, home: HomeOption = None, json: JsonOption = False) -> None:
    """Undo a merge: its two sides stay apart from now on."""
    result = call(home, "unmerge_v1_identity_merges__merge_id__unmerge_post",
                  {"merge_id": merge_id}, local=lambda dmp: dmp.identity.unmerge(merge_id))
    if json:
        emit_json(result)
        return
    console.print(f"merge {merge_id} undone: profile {result['restored_profile']} restored")


@identity_app.command("evaluate")
def evaluate(
    truth: Annotated[Path, typer.Option(help="CSV with id_type,id_value,person_id "
                                        "(the demo writes demo-data/truth.csv).")],
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """Pairwise precision and recall of the stored resolution against a ground truth."""
    from aidmp.identity.evaluate import evaluate as score

    if not truth.exists():
        raise ValidationError(f"{truth} not found", field="truth")
    frame = pl.read_csv(truth, schema_overrides={"id_value": pl.String,
                                                 "person_id": pl.String})
    result = call(home, "identity_evaluate", body={"rows": frame.to_dicts()},
                  local=lambda dmp: score(dmp.identity, frame))
    if json:
        emit_json(result)
        return
    summary("identity resolution vs ground truth", result)


@quality_app.command("report")
def report(home: HomeOption = None, json: JsonOption = False,
           as_of: AsOfOption = None) -> None:
    """Rows, duplicates, missing rates, invalid values, outliers and freshness per source
    (``--as-of``: of the events up to that instant, freshness measured to it)."""
    result = run_job(home, "quality.report", {"as_of": as_of_text(as_of)},
                     label="quality report", show_progress=not json)
    if json:
        emit_json(result)
        return
    for name, src in result["sources"].items():
        fresh = src.get("freshness") or {}
        summary(f"source {name}", {
            "rows": src["rows"], "duplicate message ids": src["duplicate_keys"],
            "likely duplicates (same person, event, properties within 60 s)":
                src["likely_duplicates"],
            "quarantined": sum(src["quarantined"].values()),
            "newest event": fresh.get("latest")})
        table(f"{name}: missing values", ["column", "missing", "rate"],
              [(c["name"], c["missing"], f"{c['missing_rate']:.1%}") for c in src["columns"]
               if c["missing"]])
        if src["quarantined"]:
            table(f"{name}: quarantined by reason", ["reason", "records"],
                  src["quarantined"].items())
        contents = src.get("contents") or {}
        flagged = [(k, v["values"], v["negative"], v["outliers"],
                    "" if not v["fences"] else f"{v['fences'][0]:.4g} .. {v['fences'][1]:.4g}")
                   for k, v in contents.get("properties", {}).items()
                   if v["negative"] or v["outliers"]]
        if flagged:
            table(f"{name}: event properties", ["property", "values", "negative",
                                                "outliers", "fences (IQR)"], flagged)
        for where, names in (contents.get("unreadable_names") or {}).items():
            if names:
                typer.echo(f"warning: {name}: {where} named {', '.join(names)} are kept in the "
                           "events but not in profiles (letters, digits and underscores only; "
                           "an import mapping renames them)", err=True)
        if contents.get("refunds") or contents.get("cancelled"):
            summary(f"{name}: refunds and cancellations", {
                "refund events": contents.get("refunds", 0),
                "rows flagged cancelled": contents.get("cancelled", 0)})
    if result.get("identifiers_refused"):
        table("identifiers refused", ["type: reason", "values"],
              result["identifiers_refused"].items())
    prof = result.get("profiles") or {}
    outliers = [(c["name"], c["outliers"], f"{c['fences'][0]:.4g} .. {c['fences'][1]:.4g}")
                for c in prof.get("columns", []) if c.get("outliers") and c.get("fences")]
    if outliers:
        table("profiles: outliers", ["column", "profiles", "fences (IQR)"], outliers)
    for warning in result.get("missing_inputs", []):
        typer.echo(f"warning: {warning}", err=True)


# probabilistic matching (cli/matching.py)
identity_app.command("match")(matching.match)
identity_app.command("review")(matching.review)
identity_app.command("accept")(matching.accept)
identity_app.command("reject")(matching.reject)


# statistics and model outputs, kept in their own module (cli/profile_stats.py)
profiles_app.command("describe")(profile_stats.describe)
profiles_app.command("rfm")(profile_stats.rfm)
profiles_app.command("recommend")(profile_stats.recommend)
