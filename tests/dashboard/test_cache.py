"""The dashboard's caches: exact per data version, and store-wide aggregates that are answered
from the last value while a background thread recomputes them (stale while revalidating)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aidmp import DMP
from aidmp.api.server import ServerThread
from aidmp.dashboard.warm import PAGES, warm
from aidmp.dashboard.web import cached


class Store:
    """Stands for the DMP: only the data version the cache reads (the cache's own input)."""

    def __init__(self) -> None:
        self.version = 1
        self.engine = self

    def data_version(self) -> int:
        return self.version


def _request(store: Store) -> Any:
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(dmp=store)))


def test_exact_cache_recomputes_when_the_data_changes() -> None:
    store, calls = Store(), []
    request = _request(store)

    def compute() -> int:
        calls.append(store.version)
        return store.version * 10

    assert cached(request, "n", compute) == 10
    assert cached(request, "n", compute) == 10 and calls == [1]
    store.version = 2
    assert cached(request, "n", compute) == 20 and calls == [1, 2]


def test_stale_aggregate_is_answered_at_once_and_refreshed_in_the_background() -> None:
    store = Store()
    request = _request(store)
    gate, started = threading.Event(), threading.Event()

    def slow() -> int:
        started.set()
        gate.wait(10)
        return store.version * 100

    assert cached(request, "agg", lambda: 100, ttl=0.05) == 100
    store.version = 2
    time.sleep(0.1)  # older than the ttl, and the data changed
    t0 = time.perf_counter()
    assert cached(request, "agg", slow, ttl=0.05) == 100  # the last value, without waiting
    assert time.perf_counter() - t0 < 1.0
    assert started.wait(5)
    # a second request while the refresh runs starts no second refresh
    assert cached(request, "agg", lambda: -1, ttl=0.05) == 100
    gate.set()
    deadline = time.monotonic() + 10
    while cached(request, "agg", lambda: -1, ttl=0.05) != 200:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # the refreshed value is current for version 2: no further recompute
    assert cached(request, "agg", lambda: -1, ttl=0.05) == 200


def test_a_failed_refresh_keeps_the_last_value() -> None:
    store = Store()
    request = _request(store)
    assert cached(request, "agg", lambda: 7, ttl=0.01) == 7
    store.version = 2
    time.sleep(0.05)

    def broken() -> int:
        raise RuntimeError("store busy")

    assert cached(request, "agg", broken, ttl=0.01) == 7
    deadline = time.monotonic() + 10
    while request.app.state.dashboard_refreshing:  # the failed refresh has ended
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # the last value is kept (still fresh under a long ttl) ...
    assert cached(request, "agg", lambda: -1, ttl=1000) == 7
    # ... and the next stale request tries again, successfully
    assert cached(request, "agg", lambda: 8, ttl=0.01) == 7
    while cached(request, "agg", lambda: -1, ttl=1000) != 8:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_warm_up_fills_the_store_wide_aggregates_before_anyone_visits(tmp_path: Path) -> None:
    dmp = DMP(home=tmp_path / "home")
    dmp.events.ingest([
        {"type": "track", "event": "Order Completed", "userId": f"u{i}", "messageId": f"m{i}",
         "timestamp": f"2026-11-{10 + i:02d}T10:00:00Z",
         "properties": {"revenue": 10.0 * (i + 1)},
         "context": {"campaign": {"source": "google", "medium": "cpc", "name": "winter"}}}
        for i in range(6)], source="web")
    dmp.build()
    key = dmp.keys.create("admin", source="tests").secret
    try:
        with ServerThread(dmp) as server:
            assert not getattr(server.app.state, "dashboard_cache", None)
            took = warm(server.url, key)
            assert set(took) == set(PAGES)  # every page answered 200
            cache = server.app.state.dashboard_cache
            assert {"overview", "sources", "profiles.totals", "roi.channel",
                    "attribution"} <= set(cache)
            # the warmed figures are the store's: six orders of six people
            totals = cache["profiles.totals"][2]
            assert totals["profiles"] == totals["identified"] == 6 and totals["revenue"] == 210.0
            # a wrong key signs nobody in and warms nothing
            assert warm(server.url, "aidmp_wrong") == {}
    finally:
        dmp.close()
