"""Migrations are the schema: they match the models, go down and up, refuse the unknown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pg_server import PostgresServer
from sqlalchemy import create_engine, text

from envoylog.db import current, downgrade, head_revision, migrate, open_store, upgrade
from envoylog.db.models import POSTGRESQL_METADATA, Base
from envoylog.db.partitions import partitions
from envoylog.errors import DatabaseUnavailable, SchemaError


def _diff(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # The tables as partitioned there; their month partitions are no tables of ours.
                metadata, months = POSTGRESQL_METADATA, partitions(conn)
            else:
                metadata, months = Base.metadata, set()

            def ours(name: str | None, kind: str, parent: object) -> bool:
                return not (kind == "table" and name in months)

            def not_internal(item: Any, name: str | None, kind: str, *_: object) -> bool:
                # A foreign key to a partitioned table is also listed once per partition.
                return not (kind == "foreign_key_constraint" and item.referred_table.name in months)

            opts = {"compare_type": True, "include_name": ours, "include_object": not_internal}
            context = MigrationContext.configure(conn, opts=opts)
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_models_and_migrations_agree(db_url: str) -> None:
    upgrade(db_url)
    assert _diff(db_url) == []


def test_upgrade_downgrade_base_upgrade(db_url: str) -> None:
    assert current(db_url) is None
    assert upgrade(db_url) == head_revision()
    downgrade(db_url, "base")
    assert current(db_url) is None
    assert upgrade(db_url) == head_revision()
    assert _diff(db_url) == []


def test_open_store_brings_a_new_database_to_the_schema(db_url: str) -> None:
    with open_store(db_url):
        pass
    assert current(db_url) == head_revision()


def test_the_head_constant_is_the_newest_migration() -> None:
    assert head_revision() == migrate.HEAD


def test_opening_a_database_at_the_newest_revision_never_imports_alembic(db_url: str) -> None:
    upgrade(db_url)
    check = (
        "import sys\n"
        "from envoylog.db import open_store\n"
        f"open_store({db_url!r}).close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )

    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)

    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr


def test_a_schema_newer_than_the_code_is_refused_untouched(db_url: str, backend: str) -> None:
    upgrade(db_url)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    before = Path(db_url.removeprefix("sqlite:///")).read_bytes() if backend == "sqlite" else b""
    with pytest.raises(SchemaError) as caught:
        open_store(db_url)
    message = str(caught.value)
    assert "9999_future" in message and "envoylog 0.1.0" in message
    assert "Traceback" not in message
    if backend == "sqlite":
        assert Path(db_url.removeprefix("sqlite:///")).read_bytes() == before
    assert current_raw(db_url) == "9999_future"


def current_raw(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
    finally:
        engine.dispose()


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    content = b"these are my notes, not a database\n" * 200
    path.write_bytes(content)
    with pytest.raises(SchemaError) as caught:
        open_store(f"sqlite:///{path}")
    assert str(path) in str(caught.value) and "not a SQLite database" in str(caught.value)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.sqlite"]


def test_someone_elses_tables_are_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.sqlite'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE polls (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(SchemaError, match="no envoylog schema revision"):
        open_store(url)


@pytest.mark.postgres
def test_unreachable_postgres_names_host_and_port_not_the_password(
    pg_server: PostgresServer,
) -> None:
    from pg_server import free_port

    port = free_port()
    url = f"postgresql://envoy:s3cret-pass@127.0.0.1:{port}/envoylog"
    with pytest.raises(DatabaseUnavailable) as caught:
        open_store(url)
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert "s3cret-pass" not in message


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    from envoylog.errors import StorageError

    with pytest.raises(StorageError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path / 'nope' / 'x.sqlite'}")
