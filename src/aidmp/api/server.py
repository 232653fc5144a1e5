"""Running the app: in the foreground (``aidmp serve``) or in a background thread (demo, tests).

Example:
    >>> import tempfile, httpx
    >>> from aidmp import DMP
    >>> with ServerThread(DMP(home=tempfile.mkdtemp()), port=0) as server:
    ...     httpx.get(server.url + "/health").json()["status"]
    'ok'
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from aidmp import logs
from aidmp.api.app import create_app
from aidmp.dmp import DMP


def _config(app: FastAPI, host: str, port: int, access_log: bool) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port, log_config=logs.configure(),
        access_log=access_log, lifespan="on", timeout_graceful_shutdown=10,
    )


def serve(dmp: DMP, *, host: str | None = None, port: int | None = None,
          access_log: bool = False, warm: bool = False) -> None:
    """Serve until interrupted; buffered events are flushed on shutdown. While it runs,
    ``<home>/server.json`` tells the CLI where the server is (see :mod:`aidmp.service.runtime`).
    With ``warm`` the dashboard's store-wide aggregates are computed once in the background as
    soon as the server listens (:mod:`aidmp.dashboard.warm`)."""
    from aidmp.service.runtime import announced, wait_for_handshake

    c = dmp.settings.collector
    host = host or c.host
    port = c.port if port is None else port
    server = uvicorn.Server(_config(create_app(dmp), host, port, access_log))

    def warm_up() -> None:
        from aidmp.dashboard.warm import warm as warm_dashboard

        try:
            found = wait_for_handshake(str(dmp.home), 300)
        except TimeoutError:
            return
        warm_dashboard(found.url, found.token)

    with announced(dmp, server, host, port):
        if warm:
            threading.Thread(target=warm_up, name="aidmp-dashboard-warm", daemon=True).start()
        server.run()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ServerThread:
    """The real HTTP server on 127.0.0.1 in a background thread; ``port=0`` picks a free one."""

    def __init__(self, dmp: DMP, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.dmp = dmp
        self.host = host
        self.port = port or free_port(host)
        self.app = create_app(dmp)
        self.server = uvicorn.Server(_config(self.app, host, self.port, access_log=False))
        self.thread = threading.Thread(target=self.server.run, name="aidmp-server", daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8123``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        """Start and wait until it accepts connections (at most 30 s)."""
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"aidmp server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def flush(self) -> None:
        """Write the collector's buffer to the engine now."""
        self.app.state.collector.flush()

    def stop(self) -> None:
        """Shut down gracefully (the collector flushes its buffer)."""
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
