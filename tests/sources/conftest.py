"""Real PostgreSQL and MariaDB servers (Debian's), started once per module on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import mariadb_server, postgres_server

PASSWORD = "pw-Zq81x!k"  # the tests check it never shows in a message or a log


@pytest.fixture(scope="module")
def postgres_dsn() -> Iterator[str]:
    with postgres_server(PASSWORD) as (port, user):
        yield f"postgresql://{user}:${{AIDMP_TEST_DB_PASSWORD}}@127.0.0.1:{port}/postgres"


@pytest.fixture(scope="module")
def mariadb_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mariadb_server(tmp_path_factory.mktemp("maria"), PASSWORD) as port:
        yield f"mysql://aidmp:${{AIDMP_TEST_DB_PASSWORD}}@127.0.0.1:{port}/shop"


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIDMP_TEST_DB_PASSWORD", PASSWORD)
