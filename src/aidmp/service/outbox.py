"""The delivery outbox: webhook and audience deliveries stored until a receiver accepts them.

A delivery is written to the ``outbox`` table before anything is sent, so a restart loses none.
The worker posts due deliveries with the installation's HMAC signature
(:mod:`aidmp.segments.webhooks`) and an ``Idempotency-Key`` header (the delivery id, the same
on every attempt: a receiver that saw it already can drop the repeat). Outcomes:

- 2xx: delivered;
- 4xx other than 408 and 429: the receiver refuses this body and would refuse it again, so it
  goes to the dead letters at once;
- anything else (5xx, 408, 429, a timeout, no connection): retried after a wait that doubles
  each time (``first_retry_s`` up to ``max_retry_s``), for ``retry_for_hours`` after it was
  queued, then dead-lettered.

Dead letters stay listed until replayed (``aidmp deliveries replay``, ``POST
/v1/deliveries/replay``), which queues them again with their attempt count reset. Plain
``http://`` is refused for hosts other than this machine unless
``service.deliveries.allow_insecure_http`` is set: the bodies carry profile ids.

Example:
    >>> check_url("http://127.0.0.1:9000/hook", allow_insecure=False)
    'http://127.0.0.1:9000/hook'
    >>> check_url("http://example.com/hook", allow_insecure=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    aidmp.errors.ValidationError: url: plain http:// is only allowed to this machine; ...
    >>> backoff(1, first=1.0, most=1800.0), backoff(5, first=1.0, most=1800.0)
    (1.0, 16.0)
"""

from __future__ import annotations

import builtins
import ipaddress
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import orjson
import pyarrow as pa

from aidmp.engine.base import arrow_schema
from aidmp.errors import ValidationError
from aidmp.segments.webhooks import SIGNATURE_HEADER, encode, load_secret, sign
from aidmp.service.config import DeliveryConfig
from aidmp.store.schema import TABLES

if TYPE_CHECKING:
    from aidmp.dmp import DMP

log = logging.getLogger("aidmp.outbox")
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRIED_4XX = frozenset({408, 429})
STATES = ("pending", "delivered", "dead")


def check_url(url: str, *, allow_insecure: bool) -> str:
    """The URL, if deliveries may go there.

    Raises:
        ValidationError: not http(s), or plain http to another machine without permission.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("must be an http:// or https:// URL with a host", field="url")
    if parts.scheme == "http" and not allow_insecure and not _loopback(parts.hostname):
        raise ValidationError("plain http:// is only allowed to this machine; use https://, "
                              "or set service.deliveries.allow_insecure_http", field="url")
    return url


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def backoff(attempt: int, *, first: float, most: float) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, 4, ... up to ``most``)."""
    return float(min(first * 2 ** (attempt - 1), most))


@dataclass
class OutboxStats:
    """Counters since start (updated under a lock: several threads count)."""

    queued: int = 0
    delivered: int = 0
    retries: int = 0
    dead: int = 0


class Outbox:
    """Queue, list and replay deliveries (``Outbox(dmp)``; ``aidmp serve`` delivers them)."""

    def __init__(self, dmp: DMP, config: DeliveryConfig | None = None) -> None:
        self.dmp = dmp
        self.config = config or dmp.settings.service.deliveries
        self.stats = OutboxStats()
        self._lock = threading.Lock()
        self.wake = threading.Event()

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + n)

    def _save(self, rows: list[dict[str, Any]]) -> None:
        self.dmp.engine.upsert("outbox", pa.Table.from_pylist(
            rows, schema=arrow_schema(TABLES["outbox"])))

    def enqueue(self, topic: str, url: str, body: bytes) -> str:
        """Store a delivery (sent by the worker); its id, also its idempotency key.

        Raises:
            ValidationError: a URL deliveries may not go to.
        """
        check_url(url, allow_insecure=self.config.allow_insecure_http)
        row = {"id": f"dlv_{secrets.token_hex(10)}", "topic": topic, "url": url, "body": body,
               "headers": None, "state": "pending", "attempts": 0,
               "next_at": datetime.now(UTC), "last_status": None, "last_error": None,
               "created_at": datetime.now(UTC), "delivered_at": None}
        self._save([row])
        self._count("queued")
        self.wake.set()
        return str(row["id"])

    def _rows(self, state: str | None = None, limit: int = 100,
              due: datetime | None = None) -> list[dict[str, Any]]:
        t = self.dmp.engine.table("outbox")
        if state is not None:
            t = t.filter(t.state == state)
        if due is not None:
            t = t.filter(t.next_at <= due)
        return self.dmp.engine.execute(t.order_by(t.created_at).limit(limit)).to_pylist()

    def list(self, state: str | None = None, limit: int = 100) -> builtins.list[dict[str, Any]]:
        """Deliveries (oldest first) without their bodies; ``state``: pending, delivered, dead."""
        if state is not None and state not in STATES:
            raise ValidationError(f"unknown state {state!r}; valid: {', '.join(STATES)}",
                                  field="state")
        if not 1 <= limit <= 1000:
            raise ValidationError("must be between 1 and 1000", field="limit")
        return [{k: v for k, v in r.items() if k not in ("body", "headers")}
                for r in self._rows(state, limit)]

    def replay(self, ids: builtins.list[str] | None = None) -> dict[str, int]:
        """Queue dead letters again (all, or those ``ids``), attempts reset."""
        dead = self._rows("dead", limit=1_000_000)
        if ids is not None:
            unknown = set(ids) - {r["id"] for r in dead}
            if unknown:
                raise ValidationError(f"{sorted(unknown)[0]!r} is not a dead letter; see "
                                      "`aidmp deliveries list --state dead`", field="ids")
            dead = [r for r in dead if r["id"] in ids]
        now = datetime.now(UTC)
        for r in dead:
            r.update(state="pending", attempts=0, next_at=now, created_at=now)
        if dead:
            self._save(dead)
            self.wake.set()
        return {"replayed": len(dead)}

    def deliver_due(self, client: httpx.Client) -> int:
        """Attempt every due delivery once; how many were attempted."""
        rows = self._rows("pending", limit=200, due=datetime.now(UTC))
        secret = load_secret(self.dmp.home) if rows else b""
        for row in rows:
            self._attempt(client, row, secret)
        return len(rows)

    def _attempt(self, client: httpx.Client, row: dict[str, Any], secret: bytes) -> None:
        body: bytes = row["body"] or b""
        row["attempts"] = int(row["attempts"] or 0) + 1
        status: int | None = None
        try:
            r = client.post(row["url"], content=body, headers={
                "Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret),
                IDEMPOTENCY_HEADER: row["id"], "User-Agent": "aidmp-outbox"})
            status = r.status_code
            error = None if r.is_success else f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__  # the message could echo the body: not logged
        now = datetime.now(UTC)
        row.update(last_status=status, last_error=error)
        if error is None:
            row.update(state="delivered", delivered_at=now)
            self._count("delivered")
        elif (status is not None and 400 <= status < 500 and status not in RETRIED_4XX
              ) or now - row["created_at"] > timedelta(hours=self.config.retry_for_hours):
            # a permanent refusal, or retried for long enough
            row["state"] = "dead"
            self._count("dead")
        else:
            wait = backoff(row["attempts"], first=self.config.first_retry_s,
                           most=self.config.max_retry_s)
            row["next_at"] = now + timedelta(seconds=wait)
            self._count("retries")
            log.info("delivery %s to %s failed (%s); retry in %.1fs", row["id"], row["url"],
                     error, wait)
        self._save([row])


class OutboxSender:
    """The real-time evaluator's sender, through the outbox (``WebhookSender``'s interface)."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    @property
    def stats(self) -> OutboxStats:
        """The outbox's counters."""
        return self.outbox.stats

    def send(self, url: str, changes: builtins.list[dict[str, Any]]) -> None:
        """Store one delivery of these changes."""
        self.outbox.enqueue(f"webhook:{changes[0].get('segment_id', '')}", url, encode(changes))

    def pending(self) -> int:
        """Deliveries not yet delivered nor dead."""
        return len(self.outbox._rows("pending", limit=1_000_000))

    def dead_letters(self) -> builtins.list[dict[str, Any]]:
        """Dead deliveries, with their bodies decoded."""
        return [{**r, "body": orjson.loads(r["body"])}
                for r in self.outbox._rows("dead", limit=1_000_000)]

    def close(self, timeout: float = 5.0) -> None:
        """Nothing to stop: what is left stays stored and is sent by the next worker."""
        del timeout


class OutboxWorker:
    """The thread that delivers due deliveries (wakes when one is queued, else every 0.5 s)."""

    def __init__(self, dmp: DMP, outbox: Outbox | None = None) -> None:
        self.outbox = outbox or Outbox(dmp)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aidmp-outbox", daemon=True)

    def start(self) -> OutboxWorker:
        """Start delivering."""
        self._thread.start()
        return self

    def _loop(self) -> None:
        with httpx.Client(timeout=self.outbox.config.timeout_s) as client:
            while not self._stop.is_set():
                try:
                    self.outbox.deliver_due(client)
                except Exception as exc:  # keep delivering after a bad round
                    log.error("outbox round failed: %s", type(exc).__name__, exc_info=exc)
                self.outbox.wake.wait(0.5)
                self.outbox.wake.clear()

    def stop(self) -> None:
        """Stop after the current attempt (pending deliveries stay stored)."""
        self._stop.set()
        self.outbox.wake.set()
        if self._thread.is_alive():
            self._thread.join(self.outbox.config.timeout_s + 5)


__all__ = ["IDEMPOTENCY_HEADER", "Outbox", "OutboxSender", "OutboxStats", "OutboxWorker",
           "backoff", "check_url"]
