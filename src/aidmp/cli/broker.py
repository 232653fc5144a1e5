"""``aidmp broker status`` and ``aidmp loader``: the broker between collectors and the store."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Annotated

import typer

from aidmp.cli.common import HomeOption, JsonOption, open_dmp
from aidmp.cli.output import console, emit_json, summary
from aidmp.config import load_settings
from aidmp.errors import ValidationError

app = typer.Typer(help="The broker between collector-only processes and the store.",
                  no_args_is_help=True)


@app.command()
def status(
    home: HomeOption = None, json: JsonOption = False,
    interval: Annotated[float, typer.Option(
        help="Seconds between the two readings the rates come from.")] = 1.0,
) -> None:
    """Consumer lag and produce / store rates, read from the broker (works while serving)."""
    if not 0.1 <= interval <= 60:
        raise ValidationError(f"must be between 0.1 and 60 seconds, got {interval}",
                              field="--interval")
    from aidmp.collect.broker.service import broker_status

    out = broker_status(load_settings(home), interval=interval)
    if json:
        emit_json(out)
    else:
        summary("broker", out)


def loader_command(home: HomeOption = None) -> None:
    """Run the loader alone: consume the broker into the store until interrupted."""
    from aidmp.collect.broker.service import BrokerLoading

    with open_dmp(home) as dmp:
        loading = BrokerLoading(dmp)
        loading.start()

        def stop(_signum: int, _frame: FrameType | None) -> None:
            loading.loader.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        console.print(f"loading from {loading.config.kind} into {dmp.home}; Ctrl-C stops")
        while loading.loader.running():
            signal.pause()
        loading.stop()
