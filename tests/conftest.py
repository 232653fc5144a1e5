"""Fixtures shared by every test: a fresh DMP home, a real HTTP server, keys."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# One pseudonymisation secret for every store a test makes: keyed profile ids are then the
# same on DuckDB and Spark and from run to run (tests/privacy/test_pseudonyms.py unsets it to
# test a home's own secret).
os.environ.setdefault("AIDMP_PRIVACY_SECRET", "aidmp-test-suite-pseudonym-secret")

from aidmp import DMP
from aidmp.api.server import ServerThread
from aidmp.demo.datasets import default_datasets_dir


@pytest.fixture()
def dmp(tmp_path: Path) -> Iterator[DMP]:
    d = DMP(home=tmp_path / "home")
    yield d
    d.close()


@pytest.fixture()
def server(dmp: DMP) -> Iterator[ServerThread]:
    with ServerThread(dmp) as srv:
        yield srv


@pytest.fixture()
def write_key(dmp: DMP) -> str:
    return dmp.keys.create("write", source="web").secret


@pytest.fixture()
def admin_key(dmp: DMP) -> str:
    return dmp.keys.create("admin", source="ops").secret


def basic(key: str) -> dict[str, str]:
    """The Authorization header the Segment SDKs send."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture(scope="session")
def datasets() -> Path:
    path = default_datasets_dir()
    assert path.is_dir(), f"the shared datasets are expected at {path}"
    return path
