"""Signed webhook delivery of segment membership changes, with retries and a dead letter file.

A delivery is one HTTP ``POST`` of a JSON body: one change as an object
``{"segment_id", "profile_id", "change": "entered"|"exited", "at", "trigger"}``, several changes
of one segment as a list of such objects. The header ``X-Aidmp-Signature: sha256=<hex>`` is the
HMAC-SHA256 of the exact body bytes with the installation's secret (``<home>/webhook.secret``,
created with mode 0600 on first use, or ``$AIDMP_WEBHOOK_SECRET``), so a receiver can check that
the body came from this installation and was not changed.

Deliveries run on background threads: a non-2xx answer or a network error is retried after
0.2, 0.4, 0.8 ... seconds (``RetryPolicy``); after the last attempt the delivery is appended to
``<home>/webhooks/dead-letter.jsonl`` (one JSON object per line: url, body, attempts, error,
failed_at) so nothing is dropped silently.

Example:
    >>> sig = sign(b'{"change":"entered"}', b"secret")
    >>> sig[:7], len(sig)
    ('sha256=', 71)
    >>> verify(b'{"change":"entered"}', sig, b"secret"), verify(b"{}", sig, b"secret")
    (True, False)
    >>> RetryPolicy(attempts=4).delays()
    [0.2, 0.4, 0.8]
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

log = logging.getLogger("aidmp.webhooks")

SIGNATURE_HEADER = "X-Aidmp-Signature"
SECRET_ENV = "AIDMP_WEBHOOK_SECRET"


def load_secret(home: str | Path) -> bytes:
    """The installation's webhook secret: ``$AIDMP_WEBHOOK_SECRET`` or ``<home>/webhook.secret``.

    The file is created (mode 0600, 32 random bytes as hex) when missing.
    """
    env = os.environ.get(SECRET_ENV)
    if env:
        return env.encode()
    path = Path(home) / "webhook.secret"
    try:
        # O_EXCL: two processes starting at once must not overwrite each other's secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    return path.read_bytes().strip()


def sign(body: bytes, secret: bytes) -> str:
    """The ``X-Aidmp-Signature`` value of a body: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature: str, secret: bytes) -> bool:
    """Whether ``signature`` is the signature of ``body`` (constant-time comparison)."""
    return hmac.compare_digest(sign(body, secret), signature)


def encode(changes: list[dict[str, Any]]) -> bytes:
    """The JSON body of a delivery: an object for one change, a list for several."""
    return orjson.dumps(changes[0] if len(changes) == 1 else changes)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a delivery is tried.

    Args:
        attempts: tries in all (the first one included).
        first_delay: seconds before the first retry; each later wait is ``factor`` times longer.
        factor: growth of the wait between retries.
        timeout: seconds one HTTP attempt may take.
    """

    attempts: int = 5
    first_delay: float = 0.2
    factor: float = 2.0
    timeout: float = 5.0

    def delays(self) -> list[float]:
        """The waits before each retry."""
        return [round(self.first_delay * self.factor ** i, 6) for i in range(self.attempts - 1)]


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    attempt: int = field(default=0, compare=False)


@dataclass
class DeliveryStats:
    """Counters since start."""

    queued: int = 0
    delivered: int = 0
    retries: int = 0
    dead: int = 0


class WebhookSender:
    """Posts signed change batches on background threads, retrying with exponential backoff.

    Args:
        home: the installation folder (secret and dead-letter file live under it).
        policy: attempts, backoff and per-attempt timeout.
        secret: the HMAC key (default: :func:`load_secret`).
        workers: delivery threads (a slow endpoint then does not hold up the others).
    """

    def __init__(self, home: str | Path, *, policy: RetryPolicy | None = None,
                 secret: bytes | None = None, workers: int = 2) -> None:
        self.home = Path(home)
        self.policy = policy or RetryPolicy()
        self.secret = secret if secret is not None else load_secret(self.home)
        self.dead_letter_path = self.home / "webhooks" / "dead-letter.jsonl"
        self.stats = DeliveryStats()
        self._heap: list[_Delivery] = []
        self._seq = itertools.count()
        self._busy = 0
        self._cond = threading.Condition()
        self._closing = False
        self._client = httpx.Client(timeout=self.policy.timeout)
        self._threads = [threading.Thread(target=self._run, name=f"aidmp-webhook-{i}",
                                          daemon=True) for i in range(workers)]
        for t in self._threads:
            t.start()

    def send(self, url: str, changes: list[dict[str, Any]]) -> None:
        """Queue one delivery of ``changes`` to ``url`` (returns at once)."""
        if not changes:
            return
        with self._cond:
            heapq.heappush(self._heap, _Delivery(time.monotonic(), next(self._seq), url,
                                                 encode(changes)))
            self.stats.queued += 1
            self._cond.notify()

    def pending(self) -> int:
        """Deliveries queued, waiting for a retry, or in flight."""
        with self._cond:
            return len(self._heap) + self._busy

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued delivery succeeded or was dead-lettered; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closing:
                        return
                    now = time.monotonic()
                    if self._heap and self._heap[0].due <= now:
                        item = heapq.heappop(self._heap)
                        self._busy += 1
                        break
                    self._cond.wait(self._heap[0].due - now if self._heap else None)
            try:
                self._attempt(item)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _attempt(self, item: _Delivery) -> None:
        item.attempt += 1
        error: str
        try:
            r = self._client.post(item.url, content=item.body, headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(item.body, self.secret),
                "User-Agent": "aidmp-webhooks"})
            if r.is_success:
                self.stats.delivered += 1
                return
            error = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if item.attempt < self.policy.attempts:
            wait = self.policy.first_delay * self.policy.factor ** (item.attempt - 1)
            # Logged without the body: it names profiles, and logs never carry personal data.
            log.info("webhook to %s failed (%s); retry %d in %.1fs", item.url, error,
                     item.attempt, wait)
            with self._cond:
                item.due = time.monotonic() + wait
                heapq.heappush(self._heap, item)
                self.stats.retries += 1
                self._cond.notify()
            return
        self._dead_letter(item, error)

    def _dead_letter(self, item: _Delivery, error: str) -> None:
        log.warning("webhook to %s failed %d times (%s); written to %s", item.url,
                    item.attempt, error, self.dead_letter_path)
        record = {"url": item.url, "body": orjson.loads(item.body), "attempts": item.attempt,
                  "error": error, "failed_at": datetime.now(UTC).isoformat()}
        with self._cond:
            self.dead_letter_path.parent.mkdir(parents=True, exist_ok=True)
            with self.dead_letter_path.open("ab") as f:
                f.write(orjson.dumps(record) + b"\n")
            self.stats.dead += 1

    def dead_letters(self) -> list[dict[str, Any]]:
        """The dead-letter records written so far, oldest first."""
        if not self.dead_letter_path.exists():
            return []
        return [orjson.loads(line) for line in self.dead_letter_path.read_bytes().splitlines()
                if line.strip()]

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout``), dead-letter the rest, stop the threads."""
        self.drain(timeout)
        with self._cond:
            self._closing = True
            left, self._heap = self._heap, []
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=self.policy.timeout + 1)
        for item in left:
            self._dead_letter(item, "not delivered before shutdown")
        self._client.close()


__all__ = ["RetryPolicy", "WebhookSender", "encode", "load_secret", "sign", "verify"]
