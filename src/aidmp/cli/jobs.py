"""``aidmp jobs list|show|cancel|kinds``: the service's background work."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from aidmp.cli.client import call
from aidmp.cli.common import HomeOption, JsonOption
from aidmp.cli.output import emit_json, summary, table

app = typer.Typer(help="Jobs: builds, refreshes, fits, imports and syncs run by the server.",
                  no_args_is_help=True)


def _row(j: dict[str, Any]) -> tuple[Any, ...]:
    p = j["progress"]
    progress = f"{p['stage']} {p['done']}/{p['total']}" if p["stage"] else ""
    return (j["id"], j["kind"], j["state"], progress, j["created_at"], j["finished_at"],
            j["error"] or "")


@app.command("list")
def list_(
    home: HomeOption = None, json: JsonOption = False,
    state: Annotated[str | None, typer.Option(help="queued|running|succeeded|failed|cancelled"
                                              )] = None,
    kind: Annotated[str | None, typer.Option(help="Only this job kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Jobs, newest first."""
    jobs = call(home, "jobs_list", {"state": state, "kind": kind, "limit": limit},
                local=lambda dmp: dmp.jobs.list(state=state, kind=kind, limit=limit))
    if json:
        emit_json(jobs)
        return
    table("jobs", ["id", "kind", "state", "progress", "created", "finished", "error"],
          [_row(j) for j in jobs])


@app.command()
def show(job_id: str, home: HomeOption = None, json: JsonOption = False) -> None:
    """A job: state, progress, result or error."""
    job = call(home, "jobs_get", {"job_id": job_id}, local=lambda dmp: dmp.jobs.get(job_id))
    if json:
        emit_json(job)
        return
    summary(f"job {job['id']}", {k: v for k, v in job.items() if k not in ("result", "id")})
    if job["result"] is not None:
        emit_json(job["result"])


@app.command()
def cancel(job_id: str, home: HomeOption = None, json: JsonOption = False) -> None:
    """Cancel a job (a running one stops at its next stage, where its kind allows)."""
    job = call(home, "jobs_cancel", {"job_id": job_id},
               local=lambda dmp: dmp.jobs.cancel(job_id))
    if json:
        emit_json(job)
    else:
        typer.echo(f"{job['id']}: {job['state']}")


@app.command()
def kinds(home: HomeOption = None, json: JsonOption = False) -> None:
    """The job kinds (what schedules and ``POST /v1/jobs`` can run)."""
    out = call(home, "jobs_kinds", local=lambda dmp: dmp.jobs.kinds())
    if json:
        emit_json(out)
        return
    table("job kinds", ["kind", "cancellable", "parameters", "description"],
          [(k["kind"], k["cancellable"], ", ".join(k["params"].get("properties", {})),
            k["description"]) for k in out])


__all__ = ["app"]
