"""The collector of ``aidmp serve --collector-only``: validate, produce to the broker, acknowledge.

It has the request interface of :class:`aidmp.collect.collector.Collector` (``accept`` then
``wait_async``) so the same HTTP routes serve both. Instead of a write-ahead log and a store
write it *group-commits to the broker*: requests validated while a produce is in flight wait
together, their rows become one Arrow batch (split at ``max_rows`` per message), and all of
them are answered once the broker confirms. A request is never answered 200 before that, so a
``kill -9`` of this process loses only unanswered requests, which the client retries.

Example:
    >>> import tempfile
    >>> from aidmp.collect.broker.base import decode_batch
    >>> class Memory:
    ...     kind = "memory"
    ...     def __init__(self): self.sent = []
    ...     def produce(self, payloads): self.sent += payloads
    >>> from datetime import UTC, datetime
    >>> broker = Memory()
    >>> c = BrokerCollector(broker)
    >>> n, bad, seq = c.accept(b'{"batch": [{"type": "track", "event": "A", "userId": "u1",'
    ...                        b' "messageId": "m1"}]}', path_type="batch", source="web",
    ...                        received_at=datetime(2026, 12, 7, tzinfo=UTC))
    >>> c.wait(seq); c.close()
    >>> decode_batch(broker.sent[0])[0].column("message_id").to_pylist()
    ['m1']
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa

from aidmp.collect.broker.base import encode_batch
from aidmp.collect.collector import CollectorSettings, validate_request
from aidmp.collect.rows import ColumnBuffer

log = logging.getLogger("aidmp.collector")


class _Producer(Protocol):
    kind: str

    def produce(self, payloads: Sequence[bytes]) -> None: ...


@dataclass
class ProducerStats:
    """Counters since start (``/health`` of a collector-only process)."""

    requests: int = 0
    accepted: int = 0
    quarantined: int = 0
    produced_batches: int = 0
    produced_messages: int = 0
    produce_errors: int = 0
    last_produce_ms: float = 0.0
    started_at: float = field(default_factory=time.time)


class BrokerCollector:
    """Validates requests and group-commits their rows to a broker.

    Args:
        broker: where batches go (:class:`~aidmp.collect.broker.base.Broker`).
        settings: request limits (flush settings are not used: the broker is the log).
        max_rows: event rows per broker message at most (keeps messages well under 1 MB).
    """

    def __init__(self, broker: _Producer, settings: CollectorSettings | None = None, *,
                 max_rows: int = 2_000) -> None:
        self.broker = broker
        self.settings = settings or CollectorSettings()
        self.max_rows = max_rows
        self.stats = ProducerStats()
        self._cond = threading.Condition()
        self._events = ColumnBuffer("events")
        self._quarantine = ColumnBuffer("quarantine")
        self._appended = 0
        self._confirmed = 0
        self._closed = False
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._thread = threading.Thread(target=self._loop, name="aidmp-producer", daemon=True)
        self._thread.start()

    def accept(
        self, body: bytes, *, path_type: str, source: str, received_at: datetime,
        doc: Any = None,
    ) -> tuple[int, list[dict[str, Any]], int]:
        """Validate and buffer one request; return (accepted, quarantined rows, sequence)."""
        values, rows, quarantined = validate_request(
            body, path_type=path_type, source=source, received_at=received_at,
            limits=self.settings.limits, doc=doc)
        with self._cond:
            if values is not None:
                self._events.extend_values(values)
            else:
                self._events.extend(rows)
                self._quarantine.extend(quarantined)
            self._appended += 1
            seq = self._appended
            self._cond.notify_all()
        self.stats.requests += 1
        self.stats.accepted += len(values) if values is not None else len(rows)
        self.stats.quarantined += len(quarantined)
        return (len(values) if values is not None else len(rows)), quarantined, seq

    def wait(self, seq: int) -> None:
        """Block until request ``seq`` is confirmed by the broker."""
        with self._cond:
            while self._confirmed < seq and not self._closed:
                self._cond.wait()

    async def wait_async(self, seq: int) -> None:
        """Return once request ``seq`` is confirmed by the broker."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._cond:
            if self._confirmed >= seq:
                return
            self._waiters.append((seq, fut))
        await fut

    def flush(self) -> None:
        """Wait until everything accepted so far is confirmed."""
        with self._cond:
            target = self._appended
        self.wait(target)

    def _messages(self, events: ColumnBuffer, quarantine: ColumnBuffer) -> list[bytes]:
        ev = events.to_arrow()
        qu = quarantine.to_arrow() if len(quarantine) else None
        slices: list[pa.Table | None] = [ev.slice(i, self.max_rows)
                                         for i in range(0, ev.num_rows, self.max_rows)] or [None]
        return [encode_batch(s, qu if i == 0 else None) for i, s in enumerate(slices)]

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._confirmed >= self._appended and not self._closed:
                    self._cond.wait()
                if self._confirmed >= self._appended:
                    return
                events, quarantine = self._events, self._quarantine
                self._events, self._quarantine = ColumnBuffer("events"), ColumnBuffer("quarantine")
                target = self._appended
            started = time.perf_counter()
            messages = self._messages(events, quarantine)
            delay = 0.1
            while True:
                try:
                    self.broker.produce(messages)
                    break
                except Exception:
                    # Nothing was answered yet: keep the rows and try again.
                    self.stats.produce_errors += 1
                    log.exception("produce to %s failed; retrying in %.1fs",
                                  self.broker.kind, delay)
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
            self.stats.produced_batches += 1
            self.stats.produced_messages += len(messages)
            self.stats.last_produce_ms = (time.perf_counter() - started) * 1000
            with self._cond:
                self._confirmed = target
                ready = [f for s, f in self._waiters if s <= target]
                self._waiters = [(s, f) for s, f in self._waiters if s > target]
                self._cond.notify_all()
            for fut in ready:
                fut.get_loop().call_soon_threadsafe(_resolve, fut)

    def close(self) -> None:
        """Produce what is buffered and stop (idempotent)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._thread.join()


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
