"""Redis Streams through redis-py: ``XADD`` to produce, a consumer group to read and ``XACK``.

A batch is acknowledged to the HTTP client once ``XADD`` has answered. How durable that is
depends on the server: with ``appendonly yes`` and ``appendfsync always`` the entry is on disk,
with ``everysec`` (Redis' default for AOF) at most a second can be lost if the *Redis host*
crashes; a crash of a collector or of the loader loses nothing either way.

The loader reads as one fixed consumer of the group. After a restart it first re-reads its
own pending entries (delivered before the crash, never ``XACK``-ed), then new ones, so
everything not yet stored comes again. Acknowledged entries are trimmed from the stream
(``XTRIM MINID``) so it does not grow without bound.

Example:
    >>> from aidmp.config import RedisBrokerConfig
    >>> RedisStreamBroker(RedisBrokerConfig(), client_id="doc").kind
    'redis'
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import redis

from aidmp.collect.broker.base import BrokerLag, Record
from aidmp.collect.dsn import expand_env, redact, scrub
from aidmp.config import RedisBrokerConfig
from aidmp.errors import BrokerError

_FIELD = b"d"
_CONSUMER = "loader"  # one loader per store: a fixed name finds its own pending entries


class RedisStreamBroker:
    """A Redis stream as the broker between collectors and the loader.

    Args:
        config: URL (``${VAR}`` taken from the environment), stream key and group.
        client_id: names this connection (``CLIENT SETNAME``).
    """

    kind = "redis"

    def __init__(self, config: RedisBrokerConfig, *, client_id: str) -> None:
        self.config = config
        self.client_id = client_id
        self._url = expand_env(config.url, field="broker.url")
        self._client: redis.Redis | None = None
        self._group_ready = False
        self._pending_done = False  # own pending entries re-read after a restart
        self._lock = threading.Lock()

    def _error(self, what: str, exc: Exception) -> BrokerError:
        detail = scrub(str(exc), self._url, _password(self._url))
        return BrokerError(f"Redis at {redact(self.config.url)}: {what}: {detail}",
                           field="broker.url")

    def _redis(self) -> redis.Redis:
        with self._lock:
            if self._client is None:
                self._client = redis.Redis.from_url(
                    self._url, client_name=self.client_id, socket_timeout=30,
                    socket_connect_timeout=10, health_check_interval=30)
            return self._client

    def produce(self, payloads: Sequence[bytes]) -> None:
        """``XADD`` every payload in one pipeline; return once Redis answered them all."""
        try:
            pipe = self._redis().pipeline(transaction=False)
            for payload in payloads:
                pipe.xadd(self.config.stream, {_FIELD: payload})
            pipe.execute()
        except redis.RedisError as exc:
            raise self._error("XADD", exc) from None

    def _ensure_group(self, client: redis.Redis) -> None:
        if self._group_ready:
            return
        try:
            client.xgroup_create(self.config.stream, self.config.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def consume(self, max_records: int, timeout: float) -> list[Record]:
        """Own pending entries first (after a restart), then new ones."""
        try:
            client = self._redis()
            self._ensure_group(client)
            if not self._pending_done:
                got = client.xreadgroup(self.config.group, _CONSUMER, {self.config.stream: "0"},
                                        count=max_records)
                records = _records(got)
                if records:
                    return records
                self._pending_done = True
            got = client.xreadgroup(self.config.group, _CONSUMER, {self.config.stream: ">"},
                                    count=max_records, block=max(1, int(timeout * 1000)))
        except redis.RedisError as exc:
            raise self._error("XREADGROUP", exc) from None
        return _records(got)

    def commit(self, records: Sequence[Record]) -> None:
        """``XACK`` the records and trim what is acknowledged from the stream."""
        if not records:
            return
        ids = [str(r.position) for r in records]
        try:
            client = self._redis()
            pipe = client.pipeline(transaction=False)
            pipe.xack(self.config.stream, self.config.group, *ids)
            # The loader acknowledges in order, so every entry before the last one is done.
            pipe.xtrim(self.config.stream, minid=max(ids, key=_id_key), approximate=True)
            pipe.execute()
        except redis.RedisError as exc:
            raise self._error("XACK", exc) from None

    def lag(self) -> BrokerLag:
        """Entries not yet delivered to the group (``lag``) plus delivered but un-acked."""
        try:
            client = self._redis()
            self._ensure_group(client)
            groups: list[dict[str, Any]] = client.xinfo_groups(self.config.stream)
            info_stream: dict[str, Any] = client.xinfo_stream(self.config.stream)
            length = int(info_stream.get("length") or 0)
            added = int(info_stream.get("entries-added") or length)
        except redis.RedisError as exc:
            raise self._error("XINFO", exc) from None
        info = next((g for g in groups if _text(g.get("name")) == self.config.group), {})
        pending = int(info.get("pending") or 0)
        behind = info.get("lag")
        waiting = int(behind) if behind is not None else length
        return BrokerLag(messages=waiting + pending, produced=added,
                         detail={"pending": pending, "undelivered": waiting})

    def close(self) -> None:
        """Close the connection pool."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _records(got: Any) -> list[Record]:
    out: list[Record] = []
    for _stream, entries in got or []:
        for entry_id, fields in entries:
            if fields and _FIELD in fields:  # a trimmed pending entry comes back empty
                out.append(Record(bytes(fields[_FIELD]), _text(entry_id)))
    return out


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _password(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password
    except ValueError:
        return None
