"""The background parts of ``aidmp serve`` and the handshake that announces the server.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> service = Service(dmp).start()
    >>> service.stop()
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from aidmp.errors import NotFoundError
from aidmp.service import handshake
from aidmp.service.handshake import Handshake

if TYPE_CHECKING:
    import uvicorn

    from aidmp.dmp import DMP
    from aidmp.service.outbox import Outbox

log = logging.getLogger("aidmp.service")


class Service:
    """Jobs, schedules and deliveries of one served DMP.

    Args:
        dmp: the served DMP.
        flush: writes the collector's buffer (run before every job, so a build sees every
            event acknowledged before it was submitted).
    """

    def __init__(self, dmp: DMP, *, flush: Callable[[], None] | None = None) -> None:
        self.dmp = dmp
        self.flush = flush
        self._stops: list[Callable[[], None]] = []
        self.outbox: Outbox | None = None

    def start(self) -> Service:
        """Start the job worker's hook, the scheduler and the delivery worker."""
        from aidmp.service.outbox import Outbox, OutboxWorker
        from aidmp.service.schedules import Scheduler

        self.dmp.jobs.before = self.flush
        self.outbox = Outbox(self.dmp)
        scheduler = Scheduler(self.dmp).start()
        worker = OutboxWorker(self.dmp, self.outbox).start()
        self._stops = [scheduler.stop, worker.stop, self.dmp.jobs.close]
        return self

    def take_webhooks(self, evaluator: Any) -> None:
        """Send a real-time evaluator's webhooks through the stored outbox (retried for
        hours, dead letters replayable) instead of its in-memory sender."""
        from aidmp.service.outbox import OutboxSender

        if evaluator is None or evaluator.sender is None or self.outbox is None:
            return
        old, evaluator.sender = evaluator.sender, OutboxSender(self.outbox)
        old.close(0.1)

    def stop(self) -> None:
        """Stop the scheduler, the deliveries, then the job worker (after its running job
        reaches a stage boundary)."""
        for stop in self._stops:
            try:
                stop()
            except Exception as exc:  # keep stopping the others
                log.error("stopping the service: %s", type(exc).__name__, exc_info=exc)
        self._stops = []


@contextlib.contextmanager
def announced(dmp: DMP, server: uvicorn.Server, host: str, port: int) -> Iterator[None]:
    """Write ``<home>/server.json`` once ``server`` accepts connections; at exit remove it and
    revoke the run's admin key. A file left by a killed server has its key revoked first."""
    stale = handshake.read(dmp.home)
    if stale is not None and not handshake.alive(stale):
        with contextlib.suppress(NotFoundError):
            dmp.keys.revoke(stale.key_id)
        handshake.remove(dmp.home)
    created = dmp.keys.create("admin", source="serve", name="aidmp serve: local CLI")
    stop = threading.Event()

    def announce() -> None:
        while not server.started:
            if stop.wait(0.05):
                return
        bound = port
        if not bound and server.servers:  # port 0: the one the OS picked
            bound = int(server.servers[0].sockets[0].getsockname()[1])
        client_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        handshake.write(dmp.home, Handshake(url=f"http://{client_host}:{bound}",
                                            token=created.secret, key_id=created.key.key_id,
                                            pid=os.getpid()))

    thread = threading.Thread(target=announce, name="aidmp-handshake", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        handshake.remove(dmp.home)
        dmp.keys.revoke(created.key.key_id)


def wait_for_handshake(home: str, timeout: float = 60.0) -> Handshake:
    """The handshake of ``home`` once a server wrote it (tests, scripts).

    Raises:
        TimeoutError: none appeared in time.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hs = handshake.read(home)
        if hs is not None:
            return hs
        time.sleep(0.1)
    raise TimeoutError(f"no aidmp server announced itself in {home} within {timeout:.0f} s")


__all__ = ["Service", "announced", "wait_for_handshake"]
