"""``aidmp privacy consent|access|erase|requests`` and ``aidmp audit list|verify``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aidmp.cli.client import call, run_job
from aidmp.cli.common import HomeOption, JsonOption
from aidmp.cli.output import console, emit_json, summary, table
from aidmp.errors import ValidationError

if TYPE_CHECKING:
    from aidmp.dmp import DMP

app = typer.Typer(help="Consent, data-subject access and erasure.", no_args_is_help=True)
consent_app = typer.Typer(help="Consent per purpose, following the person.",
                          no_args_is_help=True)
app.add_typer(consent_app, name="consent")
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)

Identifier = Annotated[str, typer.Argument(help="TYPE:VALUE, e.g. email:ann@x.com")]


def _split(identifier: str) -> tuple[str, str]:
    id_type, sep, value = identifier.partition(":")
    if not sep or not id_type or not value:
        raise ValidationError("expected TYPE:VALUE (e.g. email:ann@x.com), got a value "
                              "without a type", field="identifier")
    return id_type, value


@consent_app.command("set")
def consent_set(identifier: Identifier,
                purpose: Annotated[str, typer.Argument(help="analytics, email...")],
                granted: Annotated[bool, typer.Option("--granted/--withdrawn")] = True,
                home: HomeOption = None, json: JsonOption = False) -> None:
    """Record a decision for one identifier (the person's consents follow at once)."""
    id_type, value = _split(identifier)
    body = {"id_type": id_type, "id_value": value, "purpose": purpose, "granted": granted,
            "source": "cli"}

    def local(dmp: DMP) -> dict[str, Any]:
        out = dmp.privacy.consent.record(id_type, value, purpose, granted, source="cli")
        dmp.audit.record("cli", "privacy.consent.set", None,
                         {"purpose": purpose, "granted": granted})
        return out

    out = call(home, "set_consent_v1_privacy_consent_post", body=body, local=local)
    if json:
        emit_json(out)
        return
    console.print(f"{purpose}: {'granted' if granted else 'withdrawn'} ({id_type})")


@consent_app.command("show")
def consent_show(identifier: Identifier, home: HomeOption = None,
                 json: JsonOption = False) -> None:
    """The person's consents per purpose and the history of their decisions."""
    id_type, value = _split(identifier)

    def local(dmp: DMP) -> dict[str, Any]:
        ledger = dmp.privacy.consent
        return {"consents": ledger.of(id_type, value), "history": ledger.history(id_type, value)}

    out = call(home, "consent_of_v1_privacy_consent_lookup_post",
               body={"id_type": id_type, "id_value": value}, local=local)
    if json:
        emit_json(out)
        return
    table("consents", ["purpose", "granted", "updated_at", "source"],
          [(c["purpose"], c["granted"], c["updated_at"], c["source"]) for c in out["consents"]])
    table("history", ["at", "purpose", "granted", "source", "via"],
          [(h["at"], h["purpose"], h["granted"], h["source"], h["kind"])
           for h in out["history"]])


@consent_app.command("report")
def consent_report(home: HomeOption = None, json: JsonOption = False) -> None:
    """How many people granted or withdrew each purpose, and what each one excludes."""
    rows = call(home, "consent_report_v1_privacy_consent_report_get",
                local=lambda dmp: dmp.privacy.consent.report())
    if json:
        emit_json(rows)
        return
    table("consent by purpose", ["purpose", "granted", "withdrawn", "unknown", "excludes from"],
          [(r["purpose"], r["granted"], r["withdrawn"], r["unknown"], r["excludes_from"])
           for r in rows])


@app.command()
def access(identifier: Identifier,
           out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the ZIP.")],
           home: HomeOption = None, json: JsonOption = False) -> None:
    """Export everything held about a person (ZIP: profile.json, events.ndjson/.csv)."""
    id_type, value = _split(identifier)
    data = call(home, "access_v1_privacy_access_post",
                body={"id_type": id_type, "id_value": value},
                local=lambda dmp: dmp.privacy.access(id_type, value))
    out.write_bytes(data)
    result = {"written": str(out), "bytes": len(data)}
    if json:
        emit_json(result)
        return
    console.print(f"wrote {len(data)} bytes to {out}")


@app.command()
def erase(identifier: Identifier,
          yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")]
          = False,
          compact: Annotated[bool, typer.Option(
              help="Rewrite the store now (--no-compact: leave it to the privacy.compact "
                   "job)")] = True,
          home: HomeOption = None, json: JsonOption = False) -> None:
    """Erase a person everywhere (events, identities, profiles, files, WAL) and suppress
    their identifiers; the store is compacted so no deleted byte remains."""
    id_type, value = _split(identifier)
    if not yes and not typer.confirm(f"erase the person with this {id_type}?"):
        raise typer.Exit(1)
    out = call(home, "erase_v1_privacy_erasure_post",
               body={"id_type": id_type, "id_value": value, "compact": compact},
               local=lambda dmp: dmp.privacy.erase(id_type, value, compact=compact))
    if json:
        emit_json(out)
        return
    summary("erasure", {"request": out["request_id"], "status": out["status"],
                        "identifiers suppressed": out["identifiers_suppressed"],
                        "files rewritten": out["files_rewritten"],
                        "store compacted": out["store_compacted"]})
    table("rows removed", ["table", "rows"], sorted(out["rows"].items()))


@app.command()
def requests(kind: Annotated[str | None, typer.Option(help="access | erasure")] = None,
             home: HomeOption = None, json: JsonOption = False) -> None:
    """Access and erasure requests (no identifier is stored with them)."""
    rows = call(home, "requests_v1_privacy_requests_get", {"kind": kind},
                local=lambda dmp: dmp.privacy.requests(kind))
    if json:
        emit_json(rows)
        return
    table("requests", ["id", "kind", "status", "requested_at", "finished_at", "actor"],
          [(r["id"], r["kind"], r["status"], r["requested_at"], r["finished_at"], r["actor"])
           for r in rows])


@app.command()
def retention(home: HomeOption = None, json: JsonOption = False) -> None:
    """Delete raw events and quarantined records past the configured retention now (the
    ``privacy.retention`` job; schedule it to run every night)."""
    out = run_job(home, "privacy.retention", {}, label="retention", show_progress=not json)
    if json:
        emit_json(out)
        return
    summary("retention", {"events deleted": out["events"],
                          "quarantined deleted": out["quarantine"], "rules": out["rules"]})


@app.command("dp-sizes")
def dp_sizes(segment_ids: Annotated[list[str], typer.Argument(help="Segment ids.")],
             epsilon: Annotated[float, typer.Option(min=1e-6, max=1e6)],
             home: HomeOption = None, json: JsonOption = False) -> None:
    """Differentially private segment sizes, for sharing outside the team."""
    out = call(home, "dp_sizes_v1_privacy_dp_segment_sizes_post",
               body={"segment_ids": segment_ids, "epsilon": epsilon},
               local=lambda dmp: dmp.privacy.dp.segment_sizes(segment_ids, epsilon=epsilon))
    if json:
        emit_json(out)
        return
    table(f"noisy sizes (epsilon {epsilon:g}, noise scale {out['noise_scale']:.3g})",
          ["segment", "people"], sorted(out["sizes"].items()))
    console.print(f"privacy budget left: {out['budget_left']:g}")


@app.command("dp-overlaps")
def dp_overlaps(segment_ids: Annotated[list[str], typer.Argument(help="Segment ids.")],
                epsilon: Annotated[float, typer.Option(min=1e-6, max=1e6)],
                home: HomeOption = None, json: JsonOption = False) -> None:
    """Differentially private pairwise overlaps."""
    out = call(home, "dp_overlaps_v1_privacy_dp_overlaps_post",
               body={"segment_ids": segment_ids, "epsilon": epsilon},
               local=lambda dmp: dmp.privacy.dp.overlaps(segment_ids, epsilon=epsilon))
    if json:
        emit_json(out)
        return
    table(f"noisy overlaps (epsilon {epsilon:g})", ["a", "b", "people"],
          [(r["a"], r["b"], r["people"]) for r in out["overlaps"]])
    console.print(f"privacy budget left: {out['budget_left']:g}")


@audit_app.command("list")
def audit_list(limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
               actor: Annotated[str | None, typer.Option()] = None,
               action: Annotated[str | None, typer.Option(help="e.g. profiles.* ")] = None,
               obj: Annotated[str | None, typer.Option("--object")] = None,
               home: HomeOption = None, json: JsonOption = False) -> None:
    """Audit entries, newest first."""
    rows = call(home, "audit_v1_audit_get",
                {"limit": limit, "actor": actor, "action": action, "object": obj},
                local=lambda dmp: dmp.audit.entries(limit, actor=actor, action=action, obj=obj))
    if json:
        emit_json(rows)
        return
    table("audit log", ["seq", "at", "actor", "action", "object"],
          [(r["seq"], r["at"], r["actor"], r["action"], r["object"]) for r in rows])


@audit_app.command("verify")
def audit_verify(home: HomeOption = None, json: JsonOption = False) -> None:
    """Check the hash chain; exit 1 when an entry was edited, removed or inserted."""
    out = call(home, "audit_verify_v1_audit_verify_get", local=lambda dmp: dmp.audit.verify())
    if json:
        emit_json(out)
    elif out["ok"]:
        console.print(f"audit log intact: {out['entries']} entries")
    else:
        console.print(f"[red]audit log broken at entry {out['first_bad']}: {out['reason']}[/]")
    if not out["ok"]:
        raise typer.Exit(1)
