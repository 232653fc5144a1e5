"""A real broker per test: Debian's redis-server or the tansu Kafka-protocol broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import kafka_server, redis_server


@pytest.fixture(params=["redis", "kafka"])
def broker_config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The ``broker`` settings of a freshly started broker of each kind."""
    if request.param == "redis":
        with redis_server(tmp_path / "redis") as url:
            yield {"kind": "redis", "url": url}
    else:
        with kafka_server() as bootstrap:
            yield {"kind": "kafka", "bootstrap": bootstrap}


@pytest.fixture()
def redis_config(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with redis_server(tmp_path / "redis") as url:
        yield {"kind": "redis", "url": url}
