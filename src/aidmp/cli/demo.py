"""``aidmp demo``: generate realistic e-commerce data, ingest it for real, show what was built."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from aidmp.cli.common import HomeOption, JsonOption, open_dmp
from aidmp.cli.output import console, emit_json, summary, table
from aidmp.cli.progress import bar


def demo_command(
    home: HomeOption = None, json: JsonOption = False,
    people: Annotated[int | None, typer.Option(min=10, help="People to simulate.")] = None,
    events: Annotated[int | None, typer.Option(
        min=1000, help="Roughly this many events (sizes --people; up to 10M).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 42,
    serve: Annotated[bool, typer.Option(help="Keep the API running afterwards.")] = False,
    port: Annotated[int, typer.Option(help="Port for --serve.")] = 8000,
) -> None:
    """Generate the demo shop's data, send it through the collector and importer, summarise."""
    from aidmp.api.server import ServerThread
    from aidmp.demo.generator import people_for_events
    from aidmp.demo.ingest import run_demo

    n_people = people or (people_for_events(events) if events else 1000)
    with open_dmp(home) as dmp:
        server = ServerThread(dmp, port=port if serve else 0).start()
        try:
            with bar("sending events to the collector", enabled=not json) as progress:
                result = run_demo(dmp, people=n_people, seed=seed, progress=progress,
                                  server=server)
            stats = dmp.events.stats()
            admin = dmp.keys.create("admin", source="demo", name="demo admin")
            result["quarantine_waiting"] = dmp.quarantine.count()
            if json:
                emit_json({**result, "stats": stats})
            else:
                summary("demo built", {k: v for k, v in result.items() if k != "files"})
                table("events by type", ["type", "events"], stats["by_type"].items())
                table("top events", ["event", "events"], list(stats["top_events"].items())[:8])
                console.print(f"data files in [bold]{dmp.home / 'demo-data'}[/]")
            if serve:
                console.print(f"\nAPI and collector on [bold]{server.url}[/] — docs at "
                              f"{server.url}/docs; admin key (shown once): {admin.secret}\n"
                              "Ctrl-C to stop.")
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
