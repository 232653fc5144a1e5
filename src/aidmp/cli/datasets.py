"""``aidmp datasets load cdnow|movielens|groceries``: the shared public datasets as sources."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aidmp.cli.common import HomeOption, JsonOption, open_dmp
from aidmp.cli.output import emit_json, table
from aidmp.cli.progress import bar
from aidmp.demo.datasets import load_dataset

app = typer.Typer(help="Load the public datasets (CDNOW, MovieLens-100K, Groceries).",
                  no_args_is_help=True)


@app.command()
def load(
    name: Annotated[str, typer.Argument(help="cdnow | movielens | groceries")],
    path: Annotated[Path | None, typer.Option(
        help="The dataset folder [default: ../shared/datasets/<name>].")] = None,
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """Import a dataset through the importer (idempotent: loading twice stores nothing new)."""
    with open_dmp(home) as dmp, bar(f"loading {name}", enabled=not json) as progress:
        reports = load_dataset(dmp, name, path, progress)
        dmp.audit.record("cli", "datasets.load", name)
    if json:
        emit_json({k: r.to_dict() for k, r in reports.items()})
        return
    table(f"dataset {name}", ["part", "read", "stored", "duplicates", "quarantined", "seconds"],
          [(k, r.read, r.stored, r.duplicates, r.quarantined, f"{r.seconds:.2f}")
           for k, r in reports.items()])
