"""The loader: consume acknowledged batches from the broker and write them to the store.

One loop, in order: read up to ``max_records`` broker messages, concatenate their rows, write
them with the engine's idempotent ``append`` (a ``message_id`` already stored is skipped, so a
batch delivered twice is stored once), then commit the broker position, then hand the event
rows to the listeners (the real-time evaluator). A crash anywhere before the commit makes the
broker deliver the same batches again, which the idempotent write absorbs: at-least-once
delivery, exactly-once storage.

Example:
    >>> from aidmp.engine.duckdb import DuckDBEngine
    >>> from aidmp.collect.broker.base import Record, encode_batch
    >>> from aidmp.collect.rows import ColumnBuffer
    >>> from datetime import UTC, datetime
    >>> eng = DuckDBEngine(":memory:"); _ = eng.migrate()
    >>> buf = ColumnBuffer("events")
    >>> now = datetime.now(UTC)
    >>> buf.add({"message_id": "m1", "type": "track", "event": "A", "user_id": "u1",
    ...          "timestamp": now, "received_at": now, "source": "web", "event_date": now.date()})
    >>> class Memory:
    ...     kind = "memory"
    ...     def __init__(self, records): self.records, self.done = records, []
    ...     def consume(self, n, timeout): out, self.records = self.records, []; return out
    ...     def commit(self, records): self.done += records
    >>> twice = [Record(encode_batch(buf.to_arrow(), None), str(i)) for i in range(2)]
    >>> loader = Loader(eng, Memory(twice))
    >>> loader.run_once(), loader.stats.stored, loader.stats.duplicates
    (2, 1, 1)
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aidmp.collect.broker.base import BrokerLag, Record, decode_batch
from aidmp.collect.rows import RowFilter, keep_all
from aidmp.engine.base import Engine
from aidmp.errors import AidmpError

log = logging.getLogger("aidmp.loader")
_WINDOW_S = 10.0  # throughput is averaged over this many seconds
_LAG_SAMPLES = 50_000


class _Consumer(Protocol):
    kind: str

    def consume(self, max_records: int, timeout: float) -> list[Record]: ...

    def commit(self, records: Sequence[Record]) -> None: ...


@dataclass
class LoaderStats:
    """Counters since start (``/health`` → ``broker.loader``)."""

    messages: int = 0
    events: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    batches: int = 0
    errors: int = 0
    rejected_messages: int = 0
    last_batch_ms: float = 0.0
    started_at: float = field(default_factory=time.time)


class Loader:
    """Moves batches from a broker into the store, idempotently and at least once.

    Args:
        engine: the store.
        broker: the broker to consume from.
        max_records: broker messages per store write at most.
        poll_timeout: seconds to wait for new messages when there are none.
    """

    def __init__(self, engine: Engine, broker: _Consumer, *, max_records: int = 200,
                 poll_timeout: float = 0.1) -> None:
        self.engine = engine
        self.broker = broker
        self.max_records = max_records
        self.poll_timeout = poll_timeout
        self.row_filter: RowFilter = keep_all
        self.stats = LoaderStats()
        self._listeners: list[Callable[[pa.Table], object]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._recent: collections.deque[tuple[float, int]] = collections.deque()
        self._lags: collections.deque[float] = collections.deque(maxlen=_LAG_SAMPLES)
        self._lock = threading.Lock()

    def add_listener(self, fn: Callable[[pa.Table], object]) -> None:
        """Call ``fn(rows)`` with the ``events`` rows of every write, after they are stored
        and committed (rows that repeat a stored ``message_id`` included)."""
        self._listeners.append(fn)

    # -- one step ---------------------------------------------------------------------------------
    def run_once(self) -> int:
        """Consume, store and commit one round; return the number of broker messages."""
        records = self.broker.consume(self.max_records, self.poll_timeout)
        if not records:
            return 0
        started = time.perf_counter()
        events: list[pa.Table] = []
        quarantine: list[pa.Table] = []
        for record in records:
            try:
                ev, qu = decode_batch(record.payload)
            except (AidmpError, pa.ArrowInvalid):
                # Not ours (or damaged): storing it is impossible and retrying would block
                # everything behind it, so it is counted, logged and committed past.
                self.stats.rejected_messages += 1
                log.error("skipped a %s message that is not an aidmp batch at %s",
                          self.broker.kind, record.position)
                continue
            if ev is not None:
                events.append(ev)
            if qu is not None:
                quarantine.append(qu)
        rows = pa.concat_tables(events) if events else None
        stored = self.engine.append("events", self.row_filter(rows)) if rows is not None else 0
        quarantined = pa.concat_tables(quarantine) if quarantine else None
        if quarantined is not None:
            self.engine.append("quarantine", quarantined)
        # The store write is committed (DuckDB: a transaction) before the position moves.
        self.broker.commit(records)
        self._count(records, rows, stored, quarantined, started)
        if rows is not None and self._listeners:
            for fn in list(self._listeners):
                try:
                    fn(rows)
                except Exception:
                    log.exception("loader listener %r failed", fn)
        return len(records)

    def _count(self, records: list[Record], rows: pa.Table | None, stored: int,
               quarantined: pa.Table | None, started: float) -> None:
        now = time.time()
        n = rows.num_rows if rows is not None else 0
        with self._lock:
            self.stats.messages += len(records)
            self.stats.events += n
            self.stats.stored += stored
            self.stats.duplicates += n - stored
            self.stats.quarantined += quarantined.num_rows if quarantined is not None else 0
            self.stats.batches += 1
            self.stats.last_batch_ms = (time.perf_counter() - started) * 1000
            self._recent.append((now, n))
            while self._recent and self._recent[0][0] < now - _WINDOW_S:
                self._recent.popleft()
            if rows is not None and n:
                # end-to-end lag: from the collector receiving the event to it being stored
                received = pc.cast(rows.column("received_at"), pa.timestamp("us", tz="UTC"))
                micros = pc.cast(received, pa.int64()).to_numpy(zero_copy_only=False)
                lags = (now * 1e6 - micros) / 1000.0
                step = max(1, len(lags) // 2_000)  # a sample per batch is enough
                self._lags.extend(lags[::step].tolist())

    # -- running ----------------------------------------------------------------------------------
    def _loop(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            try:
                self.run_once()
                delay = 0.1
            except Exception:
                # Nothing was committed: the same batches come again on the next round.
                self.stats.errors += 1
                log.exception("loader round failed; retrying in %.1fs", delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def start(self) -> Loader:
        """Run in a background thread until :meth:`stop`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="aidmp-loader",
                                            daemon=True)
            self._thread.start()
        return self

    def run_forever(self) -> None:
        """Run in this thread until :meth:`stop` is called from another one."""
        self._loop()

    def running(self) -> bool:
        """Whether :meth:`stop` has not been called yet."""
        return not self._stop.is_set()

    def stop(self) -> None:
        """Finish the current round and stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    # -- reporting --------------------------------------------------------------------------------
    def throughput(self) -> float:
        """Events stored per second over the last ten seconds."""
        now = time.time()
        with self._lock:
            recent = [(t, n) for t, n in self._recent if t >= now - _WINDOW_S]
        if not recent:
            return 0.0
        span = max(now - recent[0][0], 1.0)
        return sum(n for _, n in recent) / span

    def lag_ms(self) -> dict[str, float]:
        """End-to-end lag percentiles (received by a collector → stored), in milliseconds."""
        with self._lock:
            samples = np.fromiter(self._lags, dtype=np.float64)
        if samples.size == 0:
            return {}
        p50, p99, top = np.percentile(samples, [50, 99, 100])
        return {"p50": round(float(p50), 1), "p99": round(float(p99), 1),
                "max": round(float(top), 1)}

    def reset_lag(self) -> None:
        """Forget the lag samples (benchmarks measure a window)."""
        with self._lock:
            self._lags.clear()

    def status(self, lag: BrokerLag | None) -> dict[str, Any]:
        """What ``/health`` and ``aidmp broker status`` show: counters, rate, lags."""
        stats = dict(self.stats.__dict__)
        stats["uptime_s"] = round(time.time() - stats.pop("started_at"), 1)
        out: dict[str, Any] = {
            "kind": self.broker.kind, "loader": stats,
            "events_per_s": round(self.throughput(), 1),
            "end_to_end_lag_ms": self.lag_ms(),
            "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if lag is not None:
            out["consumer_lag"] = {"messages": lag.messages, "produced": lag.produced,
                                   **lag.detail}
        return out

    def drain(self, lag: Callable[[], BrokerLag], timeout: float = 30.0) -> None:
        """Block until the group's lag is zero (tests, benchmarks, shutdown).

        Raises:
            TimeoutError: still behind after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while lag().messages > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the loader is still {lag().messages} messages behind")
            time.sleep(0.05)
