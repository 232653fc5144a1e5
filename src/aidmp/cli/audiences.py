"""``aidmp audiences destinations add|list|remove`` and ``aidmp audiences sync SEGMENT --to D``.

Example:
    >>> from typer.testing import CliRunner
    >>> CliRunner().invoke(app, ["--help"]).exit_code
    0
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aidmp.cli.client import call, run_job
from aidmp.cli.common import HomeOption, JsonOption
from aidmp.cli.output import emit_json, summary, table
from aidmp.errors import ValidationError

if TYPE_CHECKING:
    from aidmp.dmp import DMP

app = typer.Typer(help="Activation: send segments to files, webhooks and ad platforms.",
                  no_args_is_help=True)
destinations_app = typer.Typer(help="Where audiences go.", no_args_is_help=True)
app.add_typer(destinations_app, name="destinations")


@destinations_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Destination id (lower-case, digits, _).")],
    type: Annotated[str | None, typer.Option(
        "--type", help="file, webhook, google_customer_match, meta_custom_audience, "
        "email_platform.")] = None,
    folder: Annotated[str | None, typer.Option(help="Output folder (file-like kinds).")] = None,
    url: Annotated[str | None, typer.Option(help="Webhook URL.")] = None,
    format: Annotated[str | None, typer.Option(help="csv or parquet (file).")] = None,
    columns: Annotated[str | None, typer.Option(
        help="Comma-separated profile columns (file, webhook).")] = None,
    purpose: Annotated[str | None, typer.Option(help="Consent purpose checked.")] = None,
    require_opt_in: Annotated[bool | None, typer.Option(
        "--require-opt-in/--no-require-opt-in", help="Only people who granted the purpose."
    )] = None,
    min_audience: Annotated[int | None, typer.Option(help="Smallest audience sent.")] = None,
    config: Annotated[Path | None, typer.Option(help="JSON config file instead.")] = None,
    replace: Annotated[bool, typer.Option(help="Overwrite an existing one.")] = False,
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """Check and save a destination."""
    cfg: dict[str, Any]
    if config is not None:
        if not config.is_file():
            raise ValidationError(f"{config} not found", field="--config")
        import orjson

        cfg = {**orjson.loads(config.read_bytes()), "name": name}
    else:
        if type is None:
            raise ValidationError("give --type or --config", field="--type")
        given = {"type": type, "folder": folder, "url": url, "format": format,
                 "purpose": purpose, "require_opt_in": require_opt_in,
                 "min_audience": min_audience,
                 "columns": [c.strip() for c in columns.split(",")] if columns else None}
        cfg = {"name": name, **{k: v for k, v in given.items() if v is not None}}
    def local(dmp: DMP) -> dict[str, Any]:
        dest = dmp.audiences.add_destination(cfg, replace=replace)
        dmp.audit.record("cli", "destinations.add", dest.name, {"type": dest.type})
        return dest.model_dump()

    out = call(home, "add_destination_v1_destinations_post", {"replace": replace}, body=cfg,
               local=local)
    if json:
        emit_json(out)
    else:
        summary(f"destination {out['name']}", out)


@destinations_app.command("list")
def list_(home: HomeOption = None, json: JsonOption = False) -> None:
    """Every saved destination."""
    rows = call(home, "list_destinations_v1_destinations_get",
                local=lambda dmp: [d.model_dump() for d in dmp.audiences.list_destinations()])
    if json:
        emit_json(rows)
        return
    table("destinations", ["name", "type", "purpose", "min_audience", "target"],
          [(r["name"], r["type"], r["purpose"], r["min_audience"],
            r.get("folder") or r.get("url")) for r in rows])


@destinations_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="Destination id.")],
           home: HomeOption = None, json: JsonOption = False) -> None:
    """Delete a saved destination."""
    def local(dmp: DMP) -> None:
        dmp.audiences.remove_destination(name)
        dmp.audit.record("cli", "destinations.remove", name, {})

    call(home, "remove_destination_v1_destinations__name__delete", {"name": name},
         local=local)
    if json:
        emit_json({"removed": name})
    else:
        summary("removed", {"destination": name})


@app.command()
def sync(
    segment_id: Annotated[str, typer.Argument(help="Segment id.")],
    to: Annotated[str, typer.Option("--to", help="Destination id.")],
    dry_run: Annotated[bool, typer.Option(help="Compute the summary; send nothing.")] = False,
    campaign: Annotated[str | None, typer.Option(
        help="Campaign targeting this segment: leave out its holdout group.")] = None,
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """Send a segment to a destination: everyone the first time, then adds and removes."""
    result = run_job(home, "audiences.sync",
                     {"segment_id": segment_id, "destination": to, "dry_run": dry_run,
                      "campaign": campaign}, label=f"sync {segment_id}", show_progress=not json)
    if json:
        emit_json(result)
    else:
        summary(f"sync {segment_id} -> {to}" + (" (dry run)" if dry_run else ""), result)


__all__ = ["app"]
