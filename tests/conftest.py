"""Fixtures shared by every test folder."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_server import PostgresServer, PostgresUnavailable, postgres_required
from support import CAPTURES

from envoylog.db import Store, open_store

_names = itertools.count(1)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def captures_dir() -> Path:
    """The real captures; skips (or fails under CI's ENVOYLOG_REQUIRE_CAPTURES=1) when absent."""
    if not CAPTURES.is_dir():
        message = f"real gateway captures not found at {CAPTURES}"
        if os.environ.get("ENVOYLOG_REQUIRE_CAPTURES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return CAPTURES


def start_private_pg(*, durable: bool = False) -> PostgresServer:
    """Start a PostgreSQL server of the caller's own; skips (fails under CI) when not installed."""
    try:
        return PostgresServer.start(durable=durable)
    except PostgresUnavailable as exc:
        if postgres_required():
            pytest.fail(f"{exc} and ENVOYLOG_REQUIRE_POSTGRES=1")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for the session."""
    with start_private_pg() as server:
        yield server


@pytest.fixture
def private_pg() -> Iterator[PostgresServer]:
    """A durable server of the test's own, to stop, crash or freeze (SIGSTOP) while the
    session's serves the other tests."""
    with start_private_pg(durable=True) as server:
        yield server


@pytest.fixture(scope="module")
def module_pg() -> Iterator[PostgresServer]:
    """Like private_pg, shared by the tests of one module (one scenario, several checks)."""
    with start_private_pg(durable=True) as server:
        yield server


@pytest.fixture(scope="session")
def demo_databases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`envoylog demo` databases of every profile (and one with an outage), by demos.Demo.name."""
    import demos

    return demos.make_all(tmp_path_factory.mktemp("demos"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database on the backend under test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'envoylog.sqlite'}"
        return
    yield request.getfixturevalue("pg_url")


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """A new, empty PostgreSQL database, for what exists on PostgreSQL alone."""
    name = f"envoylog_test_{next(_names)}"
    url = pg_server.create_database(name)
    try:
        yield url
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """An open store with the current schema and no rows."""
    opened = open_store(db_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(autouse=True)
def private_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config file, database, token or state of this machine leaks into a test."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in (
        "ENVOYLOG_CONFIG",
        "ENVOYLOG_DB",
        "ENVOYLOG_TOKEN",
        "CONFIGURATION_DIRECTORY",
        "STATE_DIRECTORY",
        "CREDENTIALS_DIRECTORY",
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
    ):
        monkeypatch.delenv(name, raising=False)
