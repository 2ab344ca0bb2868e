"""Fixtures shared by every test folder."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_server import PostgresServer, PostgresUnavailable, postgres_required
from support import CAPTURES

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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for the session; skips (fails under CI) when not installed."""
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as exc:
        if postgres_required():
            pytest.fail(f"{exc} and ENVOYLOG_REQUIRE_POSTGRES=1")
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database on the backend under test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'envoylog.sqlite'}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = f"envoylog_test_{next(_names)}"
    url = server.create_database(name)
    try:
        yield url
    finally:
        server.drop_database(name)
