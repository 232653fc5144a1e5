"""``aidmp keys create|list|revoke|rotate`` (through the server when one holds the home)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aidmp.cli.client import call
from aidmp.cli.common import HomeOption, JsonOption
from aidmp.cli.output import console, emit_json, table

if TYPE_CHECKING:
    from aidmp.dmp import DMP

app = typer.Typer(help="API keys (write keys for the collector, read / admin for the API).",
                  no_args_is_help=True)


@app.command()
def create(
    scope: Annotated[str, typer.Option(
        "--scope", "--role",
        help="collect | analyst | marketer | engineer | privacy | admin (write, read: older)")],
    home: HomeOption = None, json: JsonOption = False,
    source: Annotated[str, typer.Option(help="Source name for events sent with it.")] = "default",
    name: Annotated[str | None, typer.Option(help="A label.")] = None,
    expires_in_days: Annotated[float | None, typer.Option(min=0.0001,
                                                          help="Refuse it after this.")] = None,
    rate_limit: Annotated[float | None, typer.Option(min=0.001,
                                                     help="Requests per second.")] = None,
) -> None:
    """Create a key; its secret is printed once and never stored."""
    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None

    def local(dmp: DMP) -> dict[str, Any]:
        created = dmp.keys.create(scope, source=source, name=name, expires_at=expires,
                                  rate_limit=rate_limit)
        dmp.audit.record("cli", "keys.create", created.key.key_id, {"scope": scope})
        return {**created.key.__dict__, "secret": created.secret}

    out = call(home, "keys_create_v1_keys_post",
               body={"scope": scope, "source": source, "name": name,
                     "expires_at": expires.isoformat() if expires else None,
                     "rate_limit": rate_limit}, local=local)
    if json:
        emit_json(out)
        return
    console.print(f"created {scope} key [bold]{out['key_id']}[/] for source '{source}'")
    console.print("secret (shown only now):")
    print(out["secret"])


@app.command("list")
def list_(home: HomeOption = None, json: JsonOption = False) -> None:
    """Every key, without secrets."""
    keys = call(home, "keys_list_v1_keys_get",
                local=lambda dmp: [k.__dict__ for k in dmp.keys.list()])
    if json:
        emit_json(keys)
        return
    table("keys", ["key_id", "scope", "source", "name", "created_at", "revoked_at"],
          [(k["key_id"], k["scope"], k["source"], k["name"], k["created_at"], k["revoked_at"])
           for k in keys])


@app.command()
def revoke(key_id: str, home: HomeOption = None, json: JsonOption = False) -> None:
    """Revoke a key at once."""
    def local(dmp: DMP) -> dict[str, Any]:
        key = dmp.keys.revoke(key_id)
        dmp.audit.record("cli", "keys.revoke", key_id)
        return dict(key.__dict__)

    out = call(home, "keys_revoke", {"key_id": key_id}, local=local)
    if json:
        emit_json(out)
    else:
        console.print(f"revoked {key_id}")


@app.command()
def rotate(key_id: str, home: HomeOption = None, json: JsonOption = False) -> None:
    """Replace a key: a new secret with the same scope and source; the old key is revoked."""
    def local(dmp: DMP) -> dict[str, Any]:
        created = dmp.keys.rotate(key_id)
        dmp.audit.record("cli", "keys.rotate", key_id, {"new": created.key.key_id})
        return {**created.key.__dict__, "secret": created.secret, "replaces": key_id}

    out = call(home, "keys_rotate", {"key_id": key_id}, local=local)
    if json:
        emit_json(out)
        return
    console.print(f"revoked {key_id}; new {out['scope']} key [bold]{out['key_id']}[/]")
    console.print("secret (shown only now):")
    print(out["secret"])
