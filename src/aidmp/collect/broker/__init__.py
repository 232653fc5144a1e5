"""A broker between collector-only processes and the loader that writes the store.

``aidmp serve --collector-only`` processes validate requests as the in-process collector does
and, instead of writing the store, produce the acknowledged rows to a broker; one
:class:`~aidmp.collect.broker.loader.Loader` consumes them, writes them idempotently, commits
its position only once the write is durable, and feeds the real-time evaluator. See
``docs/adr/0012-broker-between-collectors-and-store.md``.
"""

from aidmp.collect.broker.base import (
    Broker,
    BrokerLag,
    Record,
    decode_batch,
    encode_batch,
)
from aidmp.collect.broker.factory import open_broker

__all__ = ["Broker", "BrokerLag", "Record", "decode_batch", "encode_batch", "open_broker"]
