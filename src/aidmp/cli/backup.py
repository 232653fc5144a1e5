"""``aidmp backup create|restore``: a consistent snapshot of a home, and bringing one back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aidmp.cli.client import run_job
from aidmp.cli.common import HomeOption, JsonOption, open_dmp
from aidmp.cli.output import emit_json, summary

app = typer.Typer(help="Backups of the store (while the server runs) and restores.",
                  no_args_is_help=True)


@app.command()
def create(path: Annotated[Path | None, typer.Option(
               help="Folder to write (default <home>/backups/<time>).")] = None,
           home: HomeOption = None, json: JsonOption = False) -> None:
    """Snapshot every table and the model artefacts (through the server when one runs)."""
    out = run_job(home, "backup", {"path": str(path) if path else None}, label="backup",
                  show_progress=not json)
    if json:
        emit_json(out)
        return
    summary("backup", {"folder": out["folder"], "tables": out["tables"],
                       "events": out["rows"].get("events", 0)})


@app.command()
def restore(path: Annotated[Path, typer.Argument(help="A folder written by backup create.")],
            home: HomeOption = None, json: JsonOption = False) -> None:
    """Load a backup into a home (its tables are replaced; stop the server first)."""
    from aidmp.privacy.backup import restore as restore_backup

    with open_dmp(home) as dmp:
        out = restore_backup(dmp, path)
        dmp.audit.record("cli", "backup.restore", None, {"tables": out["tables"]})
    if json:
        emit_json(out)
        return
    summary("restored", {"tables": out["tables"], "events": out["rows"].get("events", 0),
                         "backup taken": out["backup_created_at"]})
