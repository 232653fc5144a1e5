"""``aidmp schedules list|add|remove|run``: cron schedules that submit jobs."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer

from aidmp.cli.client import call
from aidmp.cli.common import HomeOption, JsonOption
from aidmp.cli.output import emit_json, summary, table
from aidmp.errors import ValidationError

app = typer.Typer(help="Schedules: job kinds submitted at cron times by `aidmp serve`.",
                  no_args_is_help=True)


@app.command("list")
def list_(home: HomeOption = None, json: JsonOption = False) -> None:
    """Every schedule with its last and next run."""
    rows = call(home, "schedules_list", local=lambda dmp: dmp.schedules.list())
    if json:
        emit_json(rows)
        return
    table("schedules", ["name", "cron", "kind", "params", "last run", "next run", "last job"],
          [(r["name"], r["cron"], r["kind"], orjson.dumps(r["params"]).decode(),
            r["last_run_at"], r["next_run_at"], r["last_job_id"]) for r in rows])


def _params(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ValidationError('must be a JSON object, e.g. \'{"full": true}\'',
                              field="--params") from None
    if not isinstance(value, dict):
        raise ValidationError("must be a JSON object", field="--params")
    return value


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="Schedule name.")],
    cron: Annotated[str, typer.Option(help="Cron expression, UTC, e.g. '0 3 * * *'.")],
    kind: Annotated[str, typer.Option(help="Job kind (see `aidmp jobs kinds`).")],
    params: Annotated[str | None, typer.Option(help="Job parameters as a JSON object.")] = None,
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """Add (or replace) a schedule."""
    values = _params(params)
    out = call(home, "schedules_add",
               body={"name": name, "cron": cron, "kind": kind, "params": values},
               local=lambda dmp: dmp.schedules.add(name, cron, kind, values))
    if json:
        emit_json(out)
        return
    summary(f"schedule {out['name']}", out)


@app.command()
def remove(name: str, home: HomeOption = None, json: JsonOption = False) -> None:
    """Delete a schedule (its past jobs stay)."""
    out = call(home, "schedules_remove", {"name": name},
               local=lambda dmp: dmp.schedules.remove(name))
    if json:
        emit_json(out)
    else:
        typer.echo(f"removed schedule {name}")


@app.command()
def run(name: str, home: HomeOption = None, json: JsonOption = False) -> None:
    """Run a schedule's job now: submitted to the server, or run here when none holds the
    home."""
    def local(dmp: Any) -> dict[str, Any]:
        job_id = dmp.schedules.run(name)
        return dict(dmp.jobs.wait(job_id))

    job = call(home, "schedules_run", {"name": name}, local=local)
    if json:
        emit_json(job)
    else:
        typer.echo(f"{job['id']} ({job['kind']}): {job['state']}")


__all__ = ["app"]
