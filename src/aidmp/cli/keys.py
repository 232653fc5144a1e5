"""``aidmp keys create|list|revoke``."""

from __future__ import annotations

from typing import Annotated

import typer

from aidmp.cli.common import HomeOption, JsonOption, open_dmp
from aidmp.cli.output import console, emit_json, table

app = typer.Typer(help="API keys (write keys for the collector, read / admin for the API).",
                  no_args_is_help=True)


@app.command()
def create(
    scope: Annotated[str, typer.Option(help="write | read | admin")],
    home: HomeOption = None, json: JsonOption = False,
    source: Annotated[str, typer.Option(help="Source name for events sent with it.")] = "default",
    name: Annotated[str | None, typer.Option(help="A label.")] = None,
) -> None:
    """Create a key; its secret is printed once and never stored."""
    with open_dmp(home) as dmp:
        created = dmp.keys.create(scope, source=source, name=name)
        dmp.audit.record("cli", "keys.create", created.key.key_id, {"scope": scope})
    if json:
        emit_json({**created.key.__dict__, "secret": created.secret})
        return
    console.print(f"created {scope} key [bold]{created.key.key_id}[/] for source '{source}'")
    console.print("secret (shown only now):")
    print(created.secret)


@app.command("list")
def list_(home: HomeOption = None, json: JsonOption = False) -> None:
    """Every key, without secrets."""
    with open_dmp(home) as dmp:
        keys = dmp.keys.list()
    if json:
        emit_json([k.__dict__ for k in keys])
        return
    table("keys", ["key_id", "scope", "source", "name", "created_at", "revoked_at"],
          [(k.key_id, k.scope, k.source, k.name, k.created_at, k.revoked_at) for k in keys])


@app.command()
def revoke(key_id: str, home: HomeOption = None, json: JsonOption = False) -> None:
    """Revoke a key at once."""
    with open_dmp(home) as dmp:
        key = dmp.keys.revoke(key_id)
        dmp.audit.record("cli", "keys.revoke", key_id)
    if json:
        emit_json(key.__dict__)
    else:
        console.print(f"revoked {key_id}")
