"""``aidmp events count|tail|stats``."""

from __future__ import annotations

from typing import Annotated

import typer

from aidmp.cli.client import call
from aidmp.cli.common import HomeOption, JsonOption
from aidmp.cli.output import emit_json, summary, table

app = typer.Typer(help="Look at stored events.", no_args_is_help=True)


@app.command()
def count(
    home: HomeOption = None, json: JsonOption = False,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    event: Annotated[str | None, typer.Option(help="Only this event name.")] = None,
) -> None:
    """Number of stored events."""
    n = call(home, "events_count", {"source": source, "event": event},
             local=lambda dmp: {"events": dmp.events.count(source=source, event=event)}
             )["events"]
    if json:
        emit_json({"events": n})
    else:
        typer.echo(n)


@app.command()
def tail(
    home: HomeOption = None, json: JsonOption = False,
    n: Annotated[int, typer.Option("-n", min=1, max=1000, help="How many.")] = 10,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
) -> None:
    """The most recently received events."""
    rows = call(home, "events_tail_v1_events_get", {"n": n, "source": source},
                local=lambda dmp: dmp.events.tail(n, source=source))
    if json:
        emit_json(rows)
        return
    table("latest events", ["received_at", "type", "event", "user_id", "anonymous_id", "source"],
          [(r["received_at"], r["type"], r["event"], r["user_id"], r["anonymous_id"], r["source"])
           for r in rows])


@app.command()
def stats(home: HomeOption = None, json: JsonOption = False) -> None:
    """Totals, time range and counts by type, source and event."""
    s = call(home, "events_stats_v1_events_stats_get", local=lambda dmp: dmp.events.stats())
    if json:
        emit_json(s)
        return
    summary("events", {k: s[k] for k in ("events", "users", "anonymous_ids", "first", "last")})
    for key, title in (("by_type", "by type"), ("by_source", "by source"),
                       ("top_events", "top events")):
        table(title, ["", "events"], s[key].items())
