"""``aidmp deliveries list|replay``: the webhook and audience delivery outbox."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from aidmp.cli.client import call
from aidmp.cli.common import HomeOption, JsonOption
from aidmp.cli.output import emit_json, table

app = typer.Typer(help="Deliveries: the outbox of webhooks and audience syncs; dead letters.",
                  no_args_is_help=True)


def _outbox(dmp: Any) -> Any:
    from aidmp.service.outbox import Outbox

    return Outbox(dmp)


@app.command("list")
def list_(
    home: HomeOption = None, json: JsonOption = False,
    state: Annotated[str | None, typer.Option(help="pending | delivered | dead")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
) -> None:
    """Deliveries, oldest first (``--state dead``: the dead letters)."""
    out = call(home, "deliveries_list", {"state": state, "limit": limit},
               local=lambda dmp: {"deliveries": _outbox(dmp).list(state, limit)})
    if json:
        emit_json(out)
        return
    table("deliveries", ["id", "topic", "url", "state", "attempts", "last status", "last error",
                         "created"],
          [(d["id"], d["topic"], d["url"], d["state"], d["attempts"], d["last_status"],
            d["last_error"], d["created_at"]) for d in out["deliveries"]])


@app.command()
def replay(
    ids: Annotated[list[str] | None, typer.Argument(help="Dead letters [default: all].")] = None,
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """Queue dead letters again (sent by the server)."""
    out = call(home, "deliveries_replay", body={"ids": ids or None},
               local=lambda dmp: _outbox(dmp).replay(ids or None))
    if json:
        emit_json(out)
    else:
        typer.echo(f"replayed {out['replayed']}")


__all__ = ["app"]
