"""Options shared by every command, and opening the DMP for a command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aidmp.dmp import DMP

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", envvar="AIDMP_HOME", help="aidmp home folder [default: ./aidmp-home]"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def open_dmp(home: Path | None) -> DMP:
    """The DMP of the home folder (created and migrated if new)."""
    return DMP(home=home)
