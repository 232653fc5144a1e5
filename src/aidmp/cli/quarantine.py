"""``aidmp quarantine list|replay``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from aidmp.cli.client import call
from aidmp.cli.common import HomeOption, JsonOption
from aidmp.cli.output import emit_json, summary, table
from aidmp.errors import ValidationError

if TYPE_CHECKING:
    from aidmp.dmp import DMP

app = typer.Typer(help="Records refused by validation, and replaying them.", no_args_is_help=True)


@app.command("list")
def list_(
    home: HomeOption = None, json: JsonOption = False,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    all_: Annotated[bool, typer.Option("--all", help="Include replayed records.")] = False,
) -> None:
    """Waiting records with the field and the reason."""
    rows = call(home, "quarantine_list_v1_quarantine_get",
                {"source": source, "limit": limit, "include_replayed": all_},
                local=lambda dmp: dmp.quarantine.list(source=source, limit=limit,
                                                      include_replayed=all_))
    if json:
        emit_json(rows)
        return
    waiting = call(home, "quarantine_count", {"source": source},
                   local=lambda dmp: {"waiting": dmp.quarantine.count(source=source)}
                   )["waiting"]
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
    overrides = _overrides(set_ or [])

    def local(dmp: DMP) -> dict[str, int]:
        report = dmp.quarantine.replay(ids=ids or None, source=source,
                                       mapping_overrides=overrides)
        dmp.audit.record("cli", "quarantine.replay", source, report.to_dict())
        return report.to_dict()  # type: ignore[no-any-return]

    out = call(home, "quarantine_replay_v1_quarantine_replay_post",
               body={"ids": ids or None, "source": source, "mapping": overrides}, local=local)
    if json:
        emit_json(out)
    else:
        summary("replay", out)
