"""``aidmp quarantine list|replay``."""

from __future__ import annotations

from typing import Annotated

import typer

from aidmp.cli.common import HomeOption, JsonOption, open_dmp
from aidmp.cli.output import emit_json, summary, table
from aidmp.errors import ValidationError

app = typer.Typer(help="Records refused by validation, and replaying them.", no_args_is_help=True)


@app.command("list")
def list_(
    home: HomeOption = None, json: JsonOption = False,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    all_: Annotated[bool, typer.Option("--all", help="Include replayed records.")] = False,
) -> None:
    """Waiting records with the field and the reason."""
    with open_dmp(home) as dmp:
        rows = dmp.quarantine.list(source=source, limit=limit, include_replayed=all_)
        waiting = dmp.quarantine.count(source=source)
    if json:
        emit_json(rows)
        return
    table(f"quarantine ({waiting} waiting)", ["id", "source", "where", "field", "reason"],
          [(r["id"][:12], r["source"],
            f"{r['file']} row {r['row_number']}" if r["row_number"] else r["kind"],
            r["field"], r["reason"]) for r in rows])


def _overrides(values: list[str]) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, val = v.partition("=")
        if not sep or not key:
            raise ValidationError(f"expected KEY=VALUE, got {v!r}", field="--set")
        out[key] = val
    return out


@app.command()
def replay(
    home: HomeOption = None, json: JsonOption = False,
    ids: Annotated[list[str] | None, typer.Option("--id", help="Only these ids.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Change an import-mapping key, e.g. --set timestamp_format=%d/%m/%Y")] = None,
) -> None:
    """Re-validate waiting records and store those that now pass."""
    with open_dmp(home) as dmp:
        report = dmp.quarantine.replay(ids=ids or None, source=source,
                                       mapping_overrides=_overrides(set_ or []))
        dmp.audit.record("cli", "quarantine.replay", source, report.to_dict())
    if json:
        emit_json(report.to_dict())
    else:
        summary("replay", report.to_dict())
