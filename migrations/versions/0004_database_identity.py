"""The database's own identity: one row with a random id, so a spool knows its database.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "envoylog_database",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_envoylog_database")),
    )
    now = datetime.now(tz=UTC)
    if op.get_context().dialect.name == "sqlite":
        # The schema's SQLite instants are text SQLite's date functions read (types.py).
        created: object = now.strftime("%Y-%m-%d %H:%M:%S")
    else:
        created = now
    insert = sa.text("INSERT INTO envoylog_database (id, created_at) VALUES (:id, :created)")
    op.execute(insert.bindparams(id=str(uuid.uuid4()), created=created))


def downgrade() -> None:
    op.drop_table("envoylog_database")
