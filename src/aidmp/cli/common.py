"""Options shared by every command, and opening the DMP for a command."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from aidmp.dmp import DMP
from aidmp.errors import AidmpError

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", envvar="AIDMP_HOME", help="aidmp home folder [default: ./aidmp-home]"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", help="Evaluate at this instant (ISO-8601, UTC, e.g. 2026-03-01T12:00:00Z): "
                    "only events up to it, every window ending there [default: now].")]


def as_of_text(value: str | None) -> str | None:
    """``--as-of`` checked (an ISO-8601 instant, not in the future) and written in UTC.

    Raises:
        ValidationError: naming ``as_of``.
    """
    from aidmp.spec.clock import point_in_time

    when = point_in_time(value)
    return None if when is None else when.isoformat()


def open_dmp(home: Path | None) -> DMP:
    """The DMP of the home folder (created and migrated if new).

    Raises:
        AidmpError: ``aidmp serve`` holds the home (commands that go through the server call
            :func:`aidmp.cli.client.call` / ``run_job`` instead, which open nothing here).
    """
    from aidmp.service.handshake import alive, read

    where = Path(home) if home is not None else Path(os.environ.get("AIDMP_HOME", "aidmp-home"))
    hs = read(where)
    if hs is not None and alive(hs):
        raise AidmpError(f"home: aidmp serve (pid {hs.pid}) holds this store and this command "
                         f"does not run through it yet; use the REST API ({hs.url}/docs) or "
                         "run the command while no server holds the home")
    return DMP(home=home)
