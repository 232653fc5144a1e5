"""The small interface every broker implements, and the wire format of a batch.

A *batch* is what one collector-only process acknowledged together (one group commit): its
``events`` rows and ``quarantine`` rows, each as an Arrow IPC stream (zstd-compressed), behind
a magic and a length::

    b"AB1" | u32 length of the events stream | events IPC | quarantine IPC (rest)

The rows are already validated and typed by the collector, so the loader only concatenates and
appends them: the work that grows with the number of collectors stays in the collectors.

Example:
    >>> import pyarrow as pa
    >>> from aidmp.collect.rows import ColumnBuffer
    >>> from datetime import UTC, datetime
    >>> buf = ColumnBuffer("events")
    >>> buf.add({"message_id": "m1", "type": "track", "event": "A", "user_id": "u1",
    ...          "timestamp": datetime.now(UTC), "received_at": datetime.now(UTC)})
    >>> events, quarantine = decode_batch(encode_batch(buf.to_arrow(), None))
    >>> events.column("message_id").to_pylist(), quarantine is None
    (['m1'], True)
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from aidmp.errors import ValidationError

_MAGIC = b"AB1"
_LEN = struct.Struct("<I")
_IPC = pa.ipc.IpcWriteOptions(compression="zstd")


@dataclass(frozen=True)
class Record:
    """One consumed broker message.

    Attributes:
        payload: the encoded batch (:func:`encode_batch`).
        position: where it sits: ``(partition, offset)`` on Kafka, the entry id on Redis.
    """

    payload: bytes
    position: tuple[int, int] | str


@dataclass(frozen=True)
class BrokerLag:
    """How far the loader's committed position is behind what the collectors produced.

    Attributes:
        messages: batches produced but not yet committed by the loader's group.
        produced: end offsets summed over partitions (Kafka) or entries ever added (Redis).
        detail: per partition (Kafka) / the group's ``pending`` and ``lag`` (Redis).
    """

    messages: int
    produced: int
    detail: dict[str, int]


class Broker(Protocol):
    """Write acknowledged batches; read them back in order; remember what is stored."""

    kind: str
    """``kafka`` or ``redis``."""

    def produce(self, payloads: Sequence[bytes]) -> None:
        """Write ``payloads`` and return once the broker has confirmed every one (Kafka
        ``acks=all``; Redis: ``XADD`` answered).

        Raises:
            BrokerError: the broker refused or could not be reached; nothing is confirmed.
        """
        ...

    def consume(self, max_records: int, timeout: float) -> list[Record]:
        """The next records of the loader's group, oldest first: after a restart, everything
        produced and not yet committed comes again (at-least-once)."""
        ...

    def commit(self, records: Sequence[Record]) -> None:
        """Record ``records`` as stored, so they are not delivered again."""
        ...

    def lag(self) -> BrokerLag:
        """The group's lag, read from the broker."""
        ...

    def close(self) -> None:
        """Flush and release connections."""
        ...


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=_IPC) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _table(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def encode_batch(events: pa.Table | None, quarantine: pa.Table | None) -> bytes:
    """One broker message holding a batch's event and quarantine rows."""
    ev = _ipc(events) if events is not None and events.num_rows else b""
    qu = _ipc(quarantine) if quarantine is not None and quarantine.num_rows else b""
    return _MAGIC + _LEN.pack(len(ev)) + ev + qu


def decode_batch(payload: bytes) -> tuple[pa.Table | None, pa.Table | None]:
    """(events, quarantine) of a message written by :func:`encode_batch`; None when empty.

    Raises:
        ValidationError: the message is not an aidmp batch (another producer on the topic).
    """
    if not payload.startswith(_MAGIC) or len(payload) < len(_MAGIC) + _LEN.size:
        raise ValidationError("not an aidmp batch (unknown magic); is another program "
                              "writing to this topic or stream?", field="broker.message")
    start = len(_MAGIC) + _LEN.size
    (n,) = _LEN.unpack_from(payload, len(_MAGIC))
    ev = payload[start:start + n]
    qu = payload[start + n:]
    return (_table(ev) if ev else None), (_table(qu) if qu else None)
