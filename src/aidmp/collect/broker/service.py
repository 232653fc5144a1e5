"""What runs beside the API when a broker is configured: the loader, the write-key export and
the real-time evaluator fed by the loader; and the broker's status for the CLI.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp(), broker={"kind": "redis", "url": "redis://127.0.0.1:1"})
    >>> BrokerLoading(dmp).config.kind
    'redis'
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aidmp.collect.broker.base import Broker
from aidmp.collect.broker.factory import open_broker
from aidmp.collect.broker.keys import KEY_FILE, export_write_keys
from aidmp.collect.broker.loader import Loader
from aidmp.collect.dsn import redact
from aidmp.config import KafkaBrokerConfig, RedisBrokerConfig, Settings
from aidmp.errors import AidmpError, ConfigError

if TYPE_CHECKING:
    from aidmp.dmp import DMP
    from aidmp.segments.realtime import RealtimeEvaluator

log = logging.getLogger("aidmp.loader")
_KEY_EXPORT_EVERY = 2.0


def broker_config(settings: Settings) -> KafkaBrokerConfig | RedisBrokerConfig:
    """The configured broker.

    Raises:
        ConfigError: none is configured.
    """
    if settings.broker is None:
        raise ConfigError("no broker is configured; set broker.kind (kafka or redis) in "
                          "aidmp.yaml or AIDMP_BROKER__KIND", field="broker")
    return settings.broker


def key_file(settings: Settings) -> Path:
    """Where the loader exports write-key hashes for collector-only processes."""
    return Path(settings.home) / KEY_FILE


class BrokerLoading:
    """The loader of one DMP with its key export and real-time evaluator.

    Args:
        dmp: the installation whose store the loader writes.
        realtime: feed the real-time evaluator when the DMP has real-time segments.
    """

    def __init__(self, dmp: DMP, *, realtime: bool = True) -> None:
        self.dmp = dmp
        self.config = broker_config(dmp.settings)
        self.broker: Broker = open_broker(self.config, client_id=f"aidmp-loader-{os.getpid()}")
        self._status_broker: Broker | None = None
        self.loader = Loader(dmp.engine, self.broker)
        self.loader.row_filter = dmp.suppression.filter
        self.realtime: RealtimeEvaluator | None = None
        self._want_realtime = realtime
        self._stop = threading.Event()
        self._keys_thread: threading.Thread | None = None

    def export_keys(self) -> Path:
        """Write the current write-key hashes for the collector-only processes."""
        return export_write_keys(self.dmp.engine, key_file(self.dmp.settings))

    def _keys_loop(self) -> None:
        while not self._stop.wait(_KEY_EXPORT_EVERY):
            try:
                self.export_keys()
            except (AidmpError, OSError):
                log.exception("exporting the write keys failed; collectors keep the old ones")

    def start(self) -> BrokerLoading:
        """Export the keys, attach the real-time evaluator and start the loader thread."""
        self.export_keys()
        if self._want_realtime:
            from aidmp.segments.realtime import RealtimeEvaluator, has_realtime_segments

            if has_realtime_segments(self.dmp):
                self.realtime = RealtimeEvaluator(self.dmp, sender="default")
                self.realtime.warm()
                self.loader.add_listener(self.realtime.start().submit)
        self.loader.start()
        self._keys_thread = threading.Thread(target=self._keys_loop, name="aidmp-key-export",
                                             daemon=True)
        self._keys_thread.start()
        return self

    def status(self) -> dict[str, Any]:
        """Loader counters, events/s, end-to-end lag and the consumer lag read from the broker
        (``consumer_lag.error`` when the broker cannot be asked right now)."""
        try:
            lag = self._lag_broker().lag()
        except AidmpError as exc:
            out = self.loader.status(None)
            out["consumer_lag"] = {"error": str(exc)}
            return out
        return self.loader.status(lag)

    def _lag_broker(self) -> Broker:
        if self._status_broker is None:
            self._status_broker = open_broker(self.config,
                                              client_id=f"aidmp-status-{os.getpid()}")
        return self._status_broker

    def drain(self, timeout: float = 30.0) -> None:
        """Block until the loader has stored and committed everything produced."""
        self.loader.drain(self._lag_broker().lag, timeout)

    def stop(self) -> None:
        """Stop the loader (after its current round) and close the connections."""
        self._stop.set()
        self.loader.stop()
        if self._keys_thread is not None:
            self._keys_thread.join(timeout=5)
        if self.realtime is not None:
            self.realtime.close()
        self.broker.close()
        if self._status_broker is not None:
            self._status_broker.close()


def broker_status(settings: Settings, *, interval: float = 1.0) -> dict[str, Any]:
    """The consumer group's lag and the produce / commit rates over ``interval`` seconds,
    read from the broker (no store needed: works while ``aidmp serve`` holds it)."""
    config = broker_config(settings)
    broker = open_broker(config, client_id=f"aidmp-cli-{os.getpid()}")
    try:
        first = broker.lag()
        started = time.monotonic()
        time.sleep(interval)
        second = broker.lag()
        span = time.monotonic() - started
    finally:
        broker.close()
    produced = max(0, second.produced - first.produced) / span
    # committed = produced - lag; its change is what the loader stored
    done_first = first.produced - first.messages
    done_second = second.produced - second.messages
    where = (f"{config.bootstrap} {config.topic}" if isinstance(config, KafkaBrokerConfig)
             else f"{redact(config.url)} {config.stream}")
    return {
        "kind": config.kind, "where": where,
        "group": config.group, "lag_messages": second.messages, "produced": second.produced,
        "produced_per_s": round(produced, 1),
        "committed_per_s": round(max(0, done_second - done_first) / span, 1),
        **{f"lag_{k}": v for k, v in second.detail.items()},
    }
