"""Bring a database to this version's schema with the Alembic scripts shipped in the package."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import Connection

from envoylog import __version__
from envoylog.db.engine import (
    EngineOptions,
    describe,
    make_engine,
    parse_url,
    sqlite_path,
    translated,
)
from envoylog.db.models import Base
from envoylog.errors import SchemaError

if TYPE_CHECKING:
    from alembic.config import Config

# The newest revision in migrations/versions. A database already there (every start of
# the service but the first) is checked with one query and Alembic is never imported:
# it is 11 MB of a service's memory. tests/db/test_schema.py keeps this equal to the
# head Alembic finds.
HEAD = "0008"

# Any value: it only has to be the same in every envoylog process sharing a PostgreSQL server.
_PG_MIGRATION_LOCK = 0x656E766F


def alembic_config() -> Config:
    """Alembic's configuration, pointing at the scripts inside the installed package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(str(files("envoylog.migrations")))))
    return config


def head_revision() -> str:
    """The newest schema revision this version of envoylog knows (read from the scripts)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise SchemaError("envoylog ships no migrations; the installation is broken")
    return head


def current(url: str, options: EngineOptions | None = None) -> str | None:
    """Return the database's schema revision, or None when it has no envoylog schema yet."""
    engine = make_engine(url, options)
    try:
        return checked_revision(engine)
    finally:
        engine.dispose()


def upgrade(url: str, options: EngineOptions | None = None) -> str:
    """Bring the database to the newest schema; return the revision it is at now."""
    engine = make_engine(url, options)
    try:
        return upgrade_engine(engine)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str, options: EngineOptions | None = None) -> None:
    """Take the schema back to an older revision ("base" drops every table)."""
    engine = make_engine(url, options)
    try:
        with translated(engine.url, "downgrading the schema"), engine.begin() as conn:
            _no_statement_timeout(conn)
            _check_known(conn, describe(engine.url))
            from alembic import command

            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def upgrade_engine(engine: Engine) -> str:
    """Upgrade through an existing engine, in one transaction that other writers wait for."""
    if checked_revision(engine) == HEAD:
        return HEAD
    head = head_revision()
    with translated(engine.url, "upgrading the schema"), engine.begin() as conn:
        _no_statement_timeout(conn)
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        # Another process may have upgraded while we waited for the lock.
        if _check_known(conn, describe(engine.url)) != head:
            from alembic import command

            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    return head


def _no_statement_timeout(conn: Connection) -> None:
    """A migration may rewrite big tables: no statement timeout for its transaction (the
    lock timeout stays, so it never waits long behind a stuck session)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL statement_timeout = 0"))


def checked_revision(engine: Engine) -> str | None:
    """Read the revision, refusing unknown schemas; a SQLite file is only read, never changed."""
    path = sqlite_path(engine.url)
    if path is not None:
        if not path.exists() or path.stat().st_size == 0:
            return None
        # Read-only and without our connect-time pragmas: switching a foreign file to WAL
        # would already change its header.
        reader = create_engine(f"sqlite:///file:{quote(path.as_posix())}?mode=ro&uri=true")
    else:
        reader = engine
    try:
        with translated(engine.url, "checking the schema"), reader.connect() as conn:
            return _check_known(conn, describe(engine.url))
    finally:
        if reader is not engine:
            reader.dispose()


def _revision(conn: Connection) -> str | None:
    """The revision in Alembic's own table (what MigrationContext reads), without Alembic."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(found) > 1:
        raise SchemaError(f"the schema has several revisions ({', '.join(sorted(found))})")
    return found[0] if found else None


def _check_known(conn: Connection, name: str) -> str | None:
    """Refuse a schema newer than this code, or a database that holds someone else's tables."""
    revision = _revision(conn)
    if revision is None:
        ours = set(Base.metadata.tables)
        clash = ours & set(inspect(conn).get_table_names())
        if clash:
            raise SchemaError(
                f"{name} has tables named like envoylog's ({', '.join(sorted(clash))}) but no "
                "envoylog schema revision; envoylog left it untouched (use a new database)"
            )
        return None
    if revision == HEAD:
        return revision
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    if revision not in {script.revision for script in scripts.walk_revisions()}:
        raise SchemaError(
            f"{name} has schema revision {revision}, newer than envoylog {__version__} knows "
            f"(newest known: {scripts.get_current_head()}); upgrade envoylog to use it"
        )
    return revision


__all__ = [
    "HEAD",
    "alembic_config",
    "current",
    "downgrade",
    "head_revision",
    "parse_url",
    "upgrade",
]
