"""The collector core: turn Segment HTTP requests into durable ``events`` / ``quarantine`` rows.

Flow of one request (see :meth:`Collector.submit`):

1. the body (gzip allowed) is size-checked and parsed; a bad body is refused whole (HTTP 400);
2. each message is validated; an invalid one becomes a quarantine row with field and reason;
3. the decoded body is appended to the write-ahead log and the rows to the in-memory buffers,
   under one lock, so a WAL segment and a buffer generation always hold the same requests;
4. the request waits for the WAL's group-commit flush, then is acknowledged;
5. a flusher thread swaps the buffers every ``flush_interval`` (or at ``flush_rows``), writes
   them to the engine (idempotent on ``message_id``) and deletes the WAL segment.

On start, segments left by a crashed run are replayed through the same steps 1-2 with their
original receive time, so the rows are identical and the idempotent write stores them once.

Example:
    >>> from datetime import UTC, datetime
    >>> rows, quarantined = process_document(
    ...     {"batch": [{"type": "track", "event": "Signed Up", "userId": "u1", "messageId": "m1"},
    ...                {"type": "track", "userId": "u2"}]},
    ...     path_type="batch", source="web", received_at=datetime(2026, 11, 1, tzinfo=UTC),
    ...     limits=CollectorLimits())
    >>> len(rows), quarantined[0]["field"], quarantined[0]["reason"]
    (1, 'batch[1].event', 'required for a track call (the event name)')
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pyarrow as pa

from aidmp.collect.fastpath import batch_rows, batch_values, decode_json, rows_one_by_one
from aidmp.collect.rows import ColumnBuffer, RowFilter, json_text, keep_all, quarantine_row
from aidmp.collect.wal import WriteAheadLog, read_frames
from aidmp.collect.walcrypt import FrameCipher
from aidmp.engine.base import Engine
from aidmp.errors import AuthError, PayloadTooLarge, ValidationError
from aidmp.spec.events import MESSAGE_TYPES, normalize_message
from aidmp.spec.limits import MessageLimits, depth_problem, exceeds_depth

log = logging.getLogger("aidmp.collector")

#: Request limits (Segment's: 32 KB per message, 500 KB per request), nesting and clock.
CollectorLimits = MessageLimits


class _WriteKeyOnly(msgspec.Struct):
    writeKey: Any = None


_WRITE_KEY = msgspec.json.Decoder(_WriteKeyOnly)


def body_write_key(body: bytes) -> str:
    """The ``writeKey`` of a JSON body (analytics.js sends it there).

    Raises:
        AuthError: no body key: not JSON, no ``writeKey``, or one that is not a string. An
            unauthenticated body is never parsed further, so a malformed one is a 401 too.
    """
    try:
        key = _WRITE_KEY.decode(body).writeKey
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        key = None
    if key is None:
        raise AuthError("missing write key: send it as HTTP Basic username or 'writeKey' in "
                        "a JSON object body")
    if not isinstance(key, str):
        raise AuthError("must be a string (the write key)", field="writeKey")
    return key


def decode_body(raw: bytes, content_encoding: str | None, limits: CollectorLimits) -> bytes:
    """Size-check and un-gzip a request body.

    Raises:
        PayloadTooLarge: the (decompressed) body exceeds ``max_batch_bytes``.
        ValidationError: the body is not valid gzip/deflate.
    """
    limit = limits.max_batch_bytes
    if len(raw) > limit:
        raise PayloadTooLarge(f"request body is {len(raw)} bytes; the limit is {limit}",
                              field="body")
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "deflate"):
        raise ValidationError(
            f"unsupported Content-Encoding {encoding!r}; use gzip, deflate or none",
            field="Content-Encoding",
        )
    # Decompress incrementally so a small "zip bomb" can't allocate more than the limit.
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise ValidationError(f"body is not valid {encoding}: {exc}", field="body") from None
    if len(body) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body exceeds the limit of {limit} bytes", field="body")
    return body


def parse_json(body: bytes, max_depth: int | None = None) -> Any:
    """Parse a JSON body, or raise a ValidationError saying where it is malformed.

    With ``max_depth``, a body nested deeper is refused before any recursive decoder runs.
    """
    if max_depth is not None and exceeds_depth(body, max_depth):
        raise ValidationError(depth_problem(max_depth), field="message")
    return decode_json(body)


def _messages(doc: Any, path_type: str) -> tuple[list[Any], str | None]:
    if not isinstance(doc, dict):
        raise ValidationError("must be a JSON object", field="body")
    if path_type != "batch":
        return [doc], path_type
    batch = doc.get("batch")
    if not isinstance(batch, list):
        raise ValidationError("required: a list of messages", field="batch")
    if not batch:
        raise ValidationError("must contain at least one message", field="batch")
    # Fields set at batch level apply to every message unless it has its own: analytics.js
    # sends context this way, and the Segment/Rudder SDKs stamp sentAt on the batch.
    shared = {k: v for k, v in doc.items()
              if k in ("context", "integrations", "sentAt") and v is not None}
    if shared:
        batch = [{**shared, **m} if isinstance(m, dict) else m for m in batch]
    return batch, None


def process_body(
    body: bytes, *, path_type: str, source: str, received_at: datetime, limits: CollectorLimits,
    doc: Any = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Validate a request body; return (event rows, quarantine rows).

    Batches go through :mod:`aidmp.collect.fastpath`: msgspec decodes and validates the
    whole body in one call from the JSON bytes and keeps nested objects as their JSON text;
    a message it cannot take is judged on its own by pydantic, so the valid ones are kept
    and the invalid ones quarantined with their reason.
    """
    if path_type == "batch":
        rows, rejected = batch_rows(body, source=source, received_at=received_at,
                                    limits=limits)
        return rows, _quarantine_rows(rejected, source, received_at)
    return process_document(parse_json(body, limits.max_depth) if doc is None else doc,
                            path_type=path_type, source=source, received_at=received_at,
                            limits=limits)


def _quarantine_rows(rejected: list[tuple[Any, str, str]], source: str,
                     received_at: datetime) -> list[dict[str, Any]]:
    return [quarantine_row(source=source, kind="collector", payload=message, reason=reason,
                           field=field, received_at=received_at)
            for message, field, reason in rejected]


def process_document(
    doc: Any, *, path_type: str, source: str, received_at: datetime, limits: CollectorLimits
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Validate every message of a request; return (event rows, quarantine rows).

    Raises:
        ValidationError: the document as a whole is unusable (not an object, no batch...).
        PayloadTooLarge: a single-message request above ``max_event_bytes``.
    """
    messages, default_type = _messages(doc, path_type)
    rows: list[dict[str, Any]] = []
    quarantined: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        prefix = f"batch[{index}]." if path_type == "batch" else ""
        try:
            row = normalize_message(
                message, source=source, received_at=received_at, default_type=default_type,
                limits=limits, position=index,
            )
            if row["_size"] > limits.max_event_bytes:
                size = len(json_text(message))
                if size > limits.max_event_bytes:
                    raise PayloadTooLarge(
                        f"message is {size} bytes; the limit is {limits.max_event_bytes}",
                        field="message",
                    )
            rows.append(row)
        except ValidationError as exc:
            if path_type != "batch":
                raise
            quarantined.append(quarantine_row(
                source=source, kind="collector", payload=message, reason=exc.message,
                field=prefix + (exc.field or "message"), received_at=received_at,
                options={"type": default_type} if default_type else None,
            ))
    return rows, quarantined


def validate_request(
    body: bytes, *, path_type: str, source: str, received_at: datetime, limits: CollectorLimits,
    doc: Any = None,
) -> tuple[list[tuple[Any, ...]] | None, list[dict[str, Any]], list[dict[str, Any]]]:
    """Validate one request as the collector does before acknowledging it.

    Returns:
        (values, rows, quarantine rows): ``values`` (event value tuples in
        :data:`~aidmp.spec.events.EVENT_COLUMNS` order) when the fast path took the whole
        batch, else None and the event ``rows`` as dicts.

    Raises:
        ValidationError: the request as a whole is unusable.
    """
    values = batch_values(body, source=source, received_at=received_at,
                          limits=limits) if path_type == "batch" else None
    if values is not None:  # every message valid: no row dicts on the request path
        return [v for v, _ in values], [], []
    if path_type == "batch":  # the whole-batch decode declined: message by message
        rows, rejected = rows_one_by_one(body, source=source, received_at=received_at,
                                         limits=limits)
        return None, rows, _quarantine_rows(rejected, source, received_at)
    rows, quarantined = process_body(body, path_type=path_type, source=source,
                                     received_at=received_at, limits=limits, doc=doc)
    return None, rows, quarantined


@dataclass
class CollectorStats:
    """Counters since start (exposed by ``/health``)."""

    requests: int = 0
    accepted: int = 0
    quarantined: int = 0
    stored: int = 0
    duplicates: int = 0
    flushes: int = 0
    flush_errors: int = 0
    recovered: int = 0
    last_flush_ms: float = 0.0
    started_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class CollectorSettings:
    """How the collector buffers and flushes."""

    limits: CollectorLimits = field(default_factory=CollectorLimits)
    flush_interval: float = 0.25
    flush_rows: int = 20_000
    fsync: bool = True
    cipher: FrameCipher | None = None


class Collector:
    """Owns the WAL, the buffers and the flusher thread for one engine.

    Args:
        engine: where rows end up.
        wal_dir: folder of the write-ahead log.
        settings: limits and flush policy.
    """

    def __init__(self, engine: Engine, wal_dir: str | Path, settings: CollectorSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.row_filter: RowFilter = keep_all
        self.stats = CollectorStats()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._events = ColumnBuffer("events")
        self._quarantine = ColumnBuffer("quarantine")
        self.wal = WriteAheadLog(wal_dir, fsync=settings.fsync, cipher=settings.cipher)
        self._listeners: list[Callable[[pa.Table], object]] = []
        self._recover()
        self._thread = threading.Thread(target=self._flush_loop, name="aidmp-flusher", daemon=True)
        self._thread.start()

    # -- request path ---------------------------------------------------------------------------
    def accept(
        self, body: bytes, *, path_type: str, source: str, received_at: datetime,
        doc: Any = None,
    ) -> tuple[int, list[dict[str, Any]], int]:
        """Validate, log and buffer one request; return (accepted, quarantined rows, WAL seq).

        ``doc`` is the decoded body when the caller already decoded it. The caller
        acknowledges only after ``wal.wait(seq)`` / ``wal.wait_async(seq)``.
        """
        values, rows, quarantined = validate_request(
            body, path_type=path_type, source=source, received_at=received_at,
            limits=self.settings.limits, doc=doc)
        accepted = len(values) if values is not None else len(rows)
        header = orjson.dumps({"r": received_at.isoformat(), "s": source, "t": path_type})
        with self._lock:
            seq = self.wal.append(header + b"\n" + body)
            if values is not None:
                self._events.extend_values(values)
            else:
                self._events.extend(rows)
                self._quarantine.extend(quarantined)
            pending = len(self._events)
        self.stats.requests += 1
        self.stats.accepted += accepted
        self.stats.quarantined += len(quarantined)
        # A listener (the real-time evaluator) wants each event within milliseconds, so the
        # flusher is woken at once instead of after flush_interval.
        if pending >= self.settings.flush_rows or (accepted and self._listeners):
            self._wake.set()
        return accepted, quarantined, seq

    async def wait_async(self, seq: int) -> None:
        """Return once request ``seq`` (from :meth:`accept`) is durable."""
        await self.wal.wait_async(seq)

    def add_listener(self, fn: Callable[[pa.Table], object]) -> None:
        """Call ``fn(rows)`` with the ``events`` rows of every flush, after they are stored.

        Rows repeating a stored ``message_id`` are included (the write skipped them); an
        exception in ``fn`` is logged and never fails the flush.
        """
        self._listeners.append(fn)

    def _notify(self, rows: pa.Table) -> None:
        for fn in list(self._listeners):
            try:
                fn(rows)
            except Exception:
                log.exception("collector listener %r failed", fn)

    # -- flushing ---------------------------------------------------------------------------------
    def _swap(self) -> tuple[ColumnBuffer, ColumnBuffer, Path] | None:
        with self._lock:
            if len(self._events) == 0 and len(self._quarantine) == 0:
                return None
            events, quarantine = self._events, self._quarantine
            self._events, self._quarantine = ColumnBuffer("events"), ColumnBuffer("quarantine")
            segment = self.wal.rotate()
        return events, quarantine, segment

    def _write(self, events: ColumnBuffer, quarantine: ColumnBuffer) -> None:
        started = time.perf_counter()
        n = len(events)
        rows = events.to_arrow() if n else None
        stored = self.engine.append("events", self.row_filter(rows)) if rows is not None else 0
        if len(quarantine):
            self.engine.append("quarantine", quarantine.to_arrow())
        self.stats.stored += stored
        self.stats.duplicates += n - stored
        self.stats.flushes += 1
        self.stats.last_flush_ms = (time.perf_counter() - started) * 1000
        if rows is not None and self._listeners:
            self._notify(rows)

    def flush(self) -> None:
        """Write everything buffered now (retrying until the engine accepts it)."""
        swapped = self._swap()
        if swapped is None:
            return
        events, quarantine, segment = swapped
        delay = 0.1
        while True:
            try:
                self._write(events, quarantine)
                break
            except Exception:
                # Nothing is lost: the rows stay in memory and the segment stays on disk.
                self.stats.flush_errors += 1
                log.exception("flush failed; retrying in %.1fs", delay)
                if self._stop.wait(delay) and delay > 5:
                    return  # stopping: the WAL segment is replayed on the next start
                delay = min(delay * 2, 10.0)
        segment.unlink(missing_ok=True)

    def _flush_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.flush_interval)
            self._wake.clear()
            self.flush()

    def _recover(self) -> None:
        segments = self.wal.recovered_segments()
        for segment in segments:
            events, quarantine = ColumnBuffer("events"), ColumnBuffer("quarantine")
            for payload in read_frames(segment, self.settings.cipher):
                header_raw, _, body = payload.partition(b"\n")
                header = orjson.loads(header_raw)
                rows, quarantined = process_body(
                    body, path_type=header["t"], source=header["s"],
                    received_at=datetime.fromisoformat(header["r"]).astimezone(UTC),
                    limits=self.settings.limits,
                )
                events.extend(rows)
                quarantine.extend(quarantined)
            self._write(events, quarantine)
            self.stats.recovered += len(events)
            segment.unlink()
        if segments:
            log.info("recovered %d events from %d WAL segments", self.stats.recovered,
                     len(segments))

    def close(self) -> None:
        """Flush what is buffered and stop (idempotent)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self.flush()
        self.wal.close()
        self.wal.current.unlink(missing_ok=True)  # empty: its records were just flushed


__all__ = ["MESSAGE_TYPES", "Collector", "CollectorLimits", "CollectorSettings", "body_write_key",
           "decode_body",
           "validate_request"]
