"""A real webhook endpoint on 127.0.0.1 for tests: records every POST, answers queued statuses."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from aidmp.segments.webhooks import SIGNATURE_HEADER


class Receiver:
    """Answers the queued ``statuses`` first, then ``default`` (settable: 503 = always failing)."""

    def __init__(self, statuses: list[int] | None = None, default: int = 200) -> None:
        self.statuses = list(statuses or [])
        self.default = default
        self.calls: list[dict[str, Any]] = []
        self.delay_s = 0.0  # set > 0 to answer slower than a sender's timeout
        self.got = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.delay_s:
                    time.sleep(outer.delay_s)
                with outer.got:
                    status = outer.statuses.pop(0) if outer.statuses else outer.default
                    outer.calls.append({"body": body, "signature": self.headers[SIGNATURE_HEADER],
                                        "at": time.monotonic(), "status": status,
                                        "idempotency_key": self.headers["Idempotency-Key"]})
                    outer.got.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                del args  # quiet: the test asserts on the recorded calls instead

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The calls, once at least ``n`` arrived (fails the test after ``timeout``)."""
        with self.got:
            assert self.got.wait_for(lambda: len(self.calls) >= n, timeout), self.calls
            return list(self.calls)

    @property
    def accepted(self) -> list[tuple[bytes, str]]:
        """(body, signature) of the calls answered 200."""
        return [(c["body"], c["signature"]) for c in self.calls if c["status"] == 200]

    def records(self) -> list[dict[str, Any]]:
        """Every JSON record delivered successfully (a batch is a list or a single object)."""
        out: list[dict[str, Any]] = []
        for body, _ in self.accepted:
            data = orjson.loads(body)
            out += data if isinstance(data, list) else [data]
        return out

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
