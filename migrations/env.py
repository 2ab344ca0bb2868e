"""Alembic environment: envoylog always hands it an open connection (see envoylog.db.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from envoylog.db.models import Base


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run envoylog migrations with `envoylog db upgrade`, not the alembic CLI")
run_migrations(connection)
