"""The ``aidmp`` command: wiring of the nouns, and clean one-line errors.

Every error aidmp raises on purpose is printed as ``error: <field>: <problem>`` on stderr with a
non-zero exit code and no traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from aidmp import __version__
from aidmp.cli import (
    audiences,
    backup,
    broker,
    campaigns,
    deliveries,
    events,
    jobs,
    keys,
    models,
    privacy,
    profiles,
    quarantine,
    rules,
    schedules,
    segments,
    sources,
)
from aidmp.cli.common import HomeOption, JsonOption, open_dmp
from aidmp.cli.datasets import app as datasets_app
from aidmp.cli.demo import demo_command
from aidmp.cli.imports import import_command
from aidmp.cli.output import console, emit_json, err_console
from aidmp.errors import AidmpError

app = typer.Typer(
    name="aidmp", help="aidmp: an open AI data management platform for marketing.",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
)
app.add_typer(events.app, name="events")
app.add_typer(quarantine.app, name="quarantine")
app.add_typer(keys.app, name="keys")
app.add_typer(datasets_app, name="datasets")
app.add_typer(profiles.profiles_app, name="profiles")
app.add_typer(profiles.identity_app, name="identity")
app.add_typer(profiles.quality_app, name="quality")
app.add_typer(models.app, name="models")
app.add_typer(rules.app, name="rules")
app.add_typer(segments.app, name="segments")
app.add_typer(audiences.app, name="audiences")
app.add_typer(campaigns.app, name="campaigns")
app.add_typer(broker.app, name="broker")
app.add_typer(sources.app, name="sources")
app.add_typer(jobs.app, name="jobs")
app.add_typer(schedules.app, name="schedules")
app.add_typer(deliveries.app, name="deliveries")
app.add_typer(privacy.app, name="privacy")
app.add_typer(privacy.audit_app, name="audit")
app.add_typer(backup.app, name="backup")
app.command("import")(import_command)
app.command("loader")(broker.loader_command)
app.command("build")(profiles.build_command)
app.command("demo")(demo_command)


@app.command()
def init(home: HomeOption = None, json: JsonOption = False) -> None:
    """Create (or upgrade) a home folder and its database; print where it is."""
    with open_dmp(home) as dmp:
        info = {"home": str(dmp.home.resolve()), "engine": dmp.engine.name,
                "schema_version": dmp.engine.schema_version(), "keys": len(dmp.keys.list())}
    if json:
        emit_json(info)
        return
    console.print(f"aidmp home ready at [bold]{info['home']}[/] ({info['engine']}, "
                  f"schema v{info['schema_version']})")
    if not info["keys"]:
        console.print("next: `aidmp keys create --scope write --source web` and `aidmp serve`")


@app.command()
def serve(
    home: HomeOption = None,
    host: Annotated[str | None, typer.Option(help="Interface [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: 8000].")] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    collector_only: Annotated[bool, typer.Option(
        help="Only the Segment routes: produce to the configured broker, never open the "
             "store (run several; `aidmp serve` or `aidmp loader` writes the store).")] = False,
    warm: Annotated[bool, typer.Option(
        help="Compute the dashboard's store-wide figures once at start, in the background, "
             "so the first visitor does not wait for them.")] = True,
) -> None:
    """Run the collector and REST API (OpenAPI docs at /docs)."""
    if collector_only:
        from aidmp.api.collector_app import serve_collector
        from aidmp.config import load_settings

        serve_collector(load_settings(home), host=host, port=port, access_log=access_log)
        return
    from aidmp.api.server import serve as run

    with open_dmp(home) as dmp:
        run(dmp, host=host, port=port, access_log=access_log, warm=warm)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    """Entry point: usage errors exit 2 (Typer), aidmp errors print one clean line and exit 1."""
    try:
        app()
    except AidmpError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
