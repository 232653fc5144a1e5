"""``aidmp sources import|list``: PostgreSQL / MySQL / MariaDB tables and queries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from aidmp.cli.client import call, run_job
from aidmp.cli.common import HomeOption, JsonOption
from aidmp.cli.output import emit_json, summary, table
from aidmp.errors import ValidationError
from aidmp.spec.imports import load_mapping, mapping_from

app = typer.Typer(help="Database sources: import tables or queries, in full or incrementally.",
                  no_args_is_help=True)
Opt = typer.Option


@app.command("import")
def import_(
    dsn: Annotated[str, typer.Argument(
        help="postgresql://user:${PGPASSWORD}@host:5432/db or mysql://...; ${VAR} is read "
             "from the environment (keep passwords out of shell history).")],
    home: HomeOption = None, json: JsonOption = False,
    table_: Annotated[str | None, Opt("--table", help="Table (schema.table) to read.")] = None,
    query: Annotated[str | None, Opt(help="SELECT whose rows are imported.")] = None,
    cursor: Annotated[str | None, Opt(
        help="Column that only grows (updated_at, an id): later runs read only newer rows.")
    ] = None,
    name: Annotated[str | None, Opt(help="Name the cursor is kept under [default: source].")
                    ] = None,
    full: Annotated[bool, Opt(help="Read everything, ignoring the stored cursor.")] = False,
    mapping: Annotated[Path | None, Opt(help="YAML mapping file (flags override it).")] = None,
    source: Annotated[str | None, Opt(help="Source name the rows are tagged with.")] = None,
    type_: Annotated[str | None, Opt("--type", help="track | identify | page | item")] = None,
    event: Annotated[str | None, Opt(help="Event name for every row (track).")] = None,
    event_column: Annotated[str | None, Opt(help="Column with the event name.")] = None,
    user_id_column: Annotated[str | None, Opt(help="Column with the user id.")] = None,
    anonymous_id_column: Annotated[str | None, Opt(help="Column with an anonymous id.")] = None,
    timestamp_column: Annotated[str | None, Opt(help="Column with the time.")] = None,
    message_id_column: Annotated[str | None, Opt(help="Column with a unique row id.")] = None,
) -> None:
    """Import a table or query through a mapping; bad rows go to the quarantine."""
    flags: dict[str, Any] = {
        "source": source, "type": type_, "event": event, "event_column": event_column,
        "user_id_column": user_id_column, "anonymous_id_column": anonymous_id_column,
        "timestamp_column": timestamp_column, "message_id_column": message_id_column,
    }
    if mapping is not None:
        m = load_mapping(mapping, **flags)
    else:
        if source is None:
            raise ValidationError("required (or give --mapping FILE)", field="--source")
        m = mapping_from({k: v for k, v in flags.items() if v is not None})
    out = run_job(home, "sources.import",
                  {"dsn": dsn, "table": table_, "query": query, "cursor": cursor,
                   "name": name, "full": full, "mapping": m.model_dump(mode="json")},
                  label="importing", show_progress=not json)
    if json:
        emit_json(out)
        return
    summary(f"import of {out['what']} from {out['dsn']}", out)
    if out["quarantined"]:
        typer.echo(f"{out['quarantined']} rows quarantined: see `aidmp quarantine list "
                   f"--source {m.source}`", err=True)


@app.command("list")
def list_(home: HomeOption = None, json: JsonOption = False) -> None:
    """Database sources imported so far and where their cursor stands."""
    rows = call(home, "list_sources_v1_sources_get", local=lambda dmp: dmp.sources.sources())
    if json:
        emit_json(rows)
        return
    table("database sources", ["name", "what", "cursor", "at", "dsn", "imported"],
          [[r["source"], r["what"], r["cursor"], (r["value"] or {}).get("value"), r["dsn"],
            r["imported_at"]] for r in rows])
