"""Kafka through confluent-kafka (librdkafka): the field's most used, best-kept Python client.

Producing uses ``acks=all`` and waits for every delivery report, so a request is acknowledged
only once the broker holds its batch. The loader *assigns* itself every partition of the topic
and resumes from the group's committed offsets instead of joining a consumer-group rebalance:
there is one loader per store by design (DuckDB allows one writer), so partition balancing has
nothing to balance, and a restart after ``kill -9`` resumes at once instead of waiting for the
old member's session to time out. Offsets are committed synchronously after the store write.

Example:
    >>> from aidmp.config import KafkaBrokerConfig
    >>> KafkaBroker(KafkaBrokerConfig(bootstrap="127.0.0.1:1"), client_id="doc").kind
    'kafka'
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka import admin as kafka_admin

from aidmp.collect.broker.base import BrokerLag, Record
from aidmp.config import KafkaBrokerConfig
from aidmp.errors import BrokerError

_TIMEOUT = 10.0
# Batches are at most a few hundred KB (the collector splits bigger ones); room to spare.
_MAX_MESSAGE = 8 * 1024 * 1024


class KafkaBroker:
    """A topic as the broker between collectors and the loader.

    Args:
        config: bootstrap servers, topic, consumer group.
        client_id: names this process in the broker's logs.
    """

    kind = "kafka"

    def __init__(self, config: KafkaBrokerConfig, *, client_id: str) -> None:
        self.config = config
        self.client_id = client_id
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._status: Consumer | None = None
        self._partitions: list[int] = []
        self._topic_checked = False
        self._lock = threading.Lock()

    def _common(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.config.bootstrap, "client.id": self.client_id}

    def _ensure_topic(self) -> None:
        """Create the topic when it does not exist yet (an existing one is left as it is)."""
        if self._topic_checked:
            return
        admin = kafka_admin.AdminClient(self._common())
        try:
            meta = admin.list_topics(timeout=_TIMEOUT)
            if self.config.topic not in meta.topics:
                # NewTopic is documented here but missing from the stubs' exports
                futures = admin.create_topics([kafka_admin.NewTopic(  # type: ignore[attr-defined]
                    self.config.topic, num_partitions=self.config.partitions,
                    replication_factor=-1)], operation_timeout=_TIMEOUT)
                for fut in futures.values():
                    try:
                        fut.result()
                    except KafkaException as exc:
                        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                            raise
        except KafkaException as exc:
            raise BrokerError(f"Kafka at {self.config.bootstrap}: {exc.args[0].str()}",
                              field="broker.bootstrap") from None
        self._topic_checked = True

    # -- producing --------------------------------------------------------------------------------
    def produce(self, payloads: Sequence[bytes]) -> None:
        """Write and wait for every delivery report (``acks=all``)."""
        with self._lock:
            if self._producer is None:
                self._ensure_topic()
                self._producer = Producer({
                    **self._common(), "acks": "all", "linger.ms": 0,
                    "message.max.bytes": _MAX_MESSAGE, "message.timeout.ms": 30_000,
                })
            producer = self._producer
        errors: list[str] = []

        def report(err: KafkaError | None, _msg: object) -> None:
            if err is not None:
                errors.append(err.str())

        for payload in payloads:
            while True:
                try:
                    producer.produce(self.config.topic, value=payload, on_delivery=report)
                    break
                except BufferError:  # the local queue is full: let deliveries drain
                    producer.poll(0.05)
        left = producer.flush(30.0)
        if left or errors:
            raise BrokerError(f"Kafka did not confirm {left + len(errors)} of {len(payloads)} "
                              f"batches ({'; '.join(errors[:1]) or 'timed out'})",
                              field="broker")

    # -- consuming --------------------------------------------------------------------------------
    def _open_consumer(self) -> Consumer:
        if self._consumer is not None:
            return self._consumer
        self._ensure_topic()
        consumer = Consumer({
            **self._common(), "group.id": self.config.group, "enable.auto.commit": False,
            "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
            "fetch.message.max.bytes": _MAX_MESSAGE,
        })
        try:
            meta = consumer.list_topics(self.config.topic, timeout=_TIMEOUT)
            self._partitions = sorted(meta.topics[self.config.topic].partitions)
            committed = consumer.committed(
                [TopicPartition(self.config.topic, p) for p in self._partitions],
                timeout=_TIMEOUT)
        except KafkaException as exc:
            consumer.close()
            raise BrokerError(f"Kafka at {self.config.bootstrap}: {exc.args[0].str()}",
                              field="broker.bootstrap") from None
        consumer.assign([TopicPartition(self.config.topic, tp.partition,
                                        tp.offset if tp.offset >= 0 else OFFSET_BEGINNING)
                         for tp in committed])
        self._consumer = consumer
        return consumer

    def consume(self, max_records: int, timeout: float) -> list[Record]:
        """Up to ``max_records`` messages, waiting at most ``timeout`` seconds for the first."""
        consumer = self._open_consumer()
        out: list[Record] = []
        for msg in consumer.consume(max_records, timeout):
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise BrokerError(f"Kafka consume: {err.str()}", field="broker")
            value = msg.value()
            partition, offset = msg.partition(), msg.offset()
            if value is None or partition is None or offset is None:
                continue
            out.append(Record(bytes(value), (partition, offset)))
        return out

    def commit(self, records: Sequence[Record]) -> None:
        """Commit, per partition, the offset after the last record (synchronously)."""
        if not records:
            return
        nxt: dict[int, int] = {}
        for r in records:
            if isinstance(r.position, tuple):
                partition, offset = r.position
                nxt[partition] = max(nxt.get(partition, 0), offset + 1)
        try:
            self._open_consumer().commit(
                offsets=[TopicPartition(self.config.topic, p, o) for p, o in nxt.items()],
                asynchronous=False)
        except KafkaException as exc:
            raise BrokerError(f"Kafka commit: {exc.args[0].str()}", field="broker") from None

    def lag(self) -> BrokerLag:
        """End offsets against the group's committed offsets, per partition."""
        # a consumer of its own: /health asks from another thread than the loader's
        with self._lock:
            if self._status is None:
                self._ensure_topic()
                self._status = Consumer({**self._common(), "group.id": self.config.group,
                                         "enable.auto.commit": False})
            consumer = self._status
        try:
            meta = consumer.list_topics(self.config.topic, timeout=_TIMEOUT)
            parts = sorted(meta.topics[self.config.topic].partitions)
            committed = consumer.committed(
                [TopicPartition(self.config.topic, p) for p in parts], timeout=_TIMEOUT)
            detail: dict[str, int] = {}
            total = produced = 0
            for tp in committed:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.config.topic, tp.partition), timeout=_TIMEOUT)
                done = tp.offset if tp.offset >= 0 else low
                behind = max(0, high - done)
                detail[f"partition_{tp.partition}"] = behind
                total += behind
                produced += high
        except KafkaException as exc:
            raise BrokerError(f"Kafka at {self.config.bootstrap}: {exc.args[0].str()}",
                              field="broker.bootstrap") from None
        return BrokerLag(messages=total, produced=produced, detail=detail)

    def close(self) -> None:
        """Flush the producer and close the consumer."""
        if self._producer is not None:
            self._producer.flush(10.0)
            self._producer = None
        for consumer in (self._consumer, self._status):
            if consumer is not None:
                consumer.close()
        self._consumer = self._status = None
