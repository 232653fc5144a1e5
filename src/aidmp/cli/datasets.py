"""``aidmp datasets load cdnow|movielens|groceries``: the shared public datasets as sources."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aidmp.cli.client import run_job
from aidmp.cli.common import HomeOption, JsonOption
from aidmp.cli.output import emit_json, table
from aidmp.demo.datasets import DATASETS
from aidmp.errors import ValidationError

app = typer.Typer(help="Load the public datasets (CDNOW, MovieLens-100K, Groceries).",
                  no_args_is_help=True)


@app.command()
def load(
    name: Annotated[str, typer.Argument(help="cdnow | movielens | groceries")],
    path: Annotated[Path | None, typer.Option(
        help="The dataset folder [default: ../shared/datasets/<name>].")] = None,
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """Import a dataset through the importer (idempotent: loading twice stores nothing new);
    a ``datasets.load`` job on the server when one holds the home."""
    if name not in DATASETS:  # before any work, as the job kind would
        raise ValidationError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}",
                              field="dataset")
    reports = run_job(home, "datasets.load",
                      {"name": name, "path": str(path.resolve()) if path else None},
                      label=f"loading {name}", show_progress=not json)
    if json:
        emit_json(reports)
        return
    table(f"dataset {name}", ["part", "read", "stored", "duplicates", "quarantined", "seconds"],
          [(k, r["read"], r["stored"], r["duplicates"], r["quarantined"], f"{r['seconds']:.2f}")
           for k, r in reports.items()])
