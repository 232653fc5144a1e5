"""Running a command's work: through the server that holds the home, or on the store itself.

When ``aidmp serve`` holds a home (its ``server.json`` names a live process that answers
``/health``), the store is the server's: a command names the REST operation (``operationId``)
that does its work, and :class:`~aidmp.service.client.ServiceClient` calls it as the server's
OpenAPI document describes. Otherwise the command opens the store and runs the same facade
call itself. Long work is a job kind either way (:mod:`aidmp.service.kinds`): submitted and
polled on a server, run in this process otherwise, with the same progress bar and result.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from aidmp.cli.common import open_dmp
from aidmp.cli.output import err_console
from aidmp.errors import AidmpError
from aidmp.service.client import ServiceClient

if TYPE_CHECKING:
    from aidmp.dmp import DMP

T = TypeVar("T")
_POLL_S = 0.2
_clients: dict[Path, ServiceClient | None] = {}


def home_path(home: Path | None) -> Path:
    """The home folder a command works on (as :func:`aidmp.config.load_settings` finds it)."""
    return Path(home) if home is not None else Path(os.environ.get("AIDMP_HOME", "aidmp-home"))


def server(home: Path | None) -> ServiceClient | None:
    """The client of the server holding ``home``, or None (found once per process)."""
    key = home_path(home).resolve()
    if key not in _clients:
        _clients[key] = ServiceClient.discover(key)
    return _clients[key]


def call(home: Path | None, operation_id: str, params: dict[str, Any] | None = None, *,
         body: Any = None, local: Callable[[DMP], T]) -> T | Any:
    """The answer of ``operation_id`` on the home's server, or ``local(dmp)`` on the store."""
    client = server(home)
    if client is not None:
        return client.call(operation_id, params, body=body)
    with open_dmp(home) as dmp:
        return local(dmp)


@contextmanager
def stage_bar(label: str, *, enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """A Rich progress bar on stderr (terminals only); yields ``update(stage, done, total)``."""
    if not enabled or not err_console.is_terminal:
        yield lambda stage, done, total: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console) as progress:
        task = progress.add_task(label, total=None)

        def update(stage: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, description=f"{label}: {stage}")

        yield update


def run_job(home: Path | None, kind: str, params: dict[str, Any], *, label: str,
            show_progress: bool = True) -> Any:
    """Run a job kind: submitted to the home's server and followed until it ends, or run
    here on the store. Its result; its error raised as an :class:`AidmpError`."""
    client = server(home)
    with stage_bar(label, enabled=show_progress) as update:
        if client is None:
            with open_dmp(home) as dmp:
                return dmp.jobs.run_here(kind, params, update)
        job = client.call("jobs_submit", body={"kind": kind, "params": params})
        try:
            while job["state"] in ("queued", "running"):
                progress = job["progress"]
                if progress["stage"] is not None:
                    update(progress["stage"], progress["done"] or 0, progress["total"] or 0)
                time.sleep(_POLL_S)
                job = client.call("jobs_get", {"job_id": job["id"]})
        except KeyboardInterrupt:
            err_console.print(f"job {job['id']} goes on in the server; follow it with "
                              f"`aidmp jobs show {job['id']}`")
            raise
    if job["state"] == "succeeded":
        return job["result"]
    raise AidmpError(job["error"] or f"job {job['id']} was {job['state']}")


__all__ = ["call", "home_path", "run_job", "server", "stage_bar"]
