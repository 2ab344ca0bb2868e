"""Tiered history: compacted readings and the gateway-days they stand for.

Readings older than the full-resolution window are compacted a gateway-day at a
time (envoylog.history). A compacted reading keeps its own instant and counters
(exact, as read) and stands for the readings folded into it, up to the next row
of its series: ``samples`` is how many (NULL: the reading as polled), ``watts``
their mean, ``watts_min`` and ``watts_max`` their extremes. ``compacted_days``
lists the gateway-days done. The reading views gain the three columns.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMPACTED = ("meter_readings", "system_readings", "inverter_readings")
COLUMNS = ("samples", "watts_min", "watts_max")
# The views of revision 0003 that show these tables, and the column each new one follows.
VIEWS = {
    "meter_readings_local": "r.wh_received, r.flags",
    "system_readings_local": "s.state, s.flags",
    "inverter_readings_local": "r.temperature_c, r.flags",
}

_views = importlib.import_module("envoylog.migrations.versions.0003_flags_and_views")._views


def _new_views(dialect: str) -> dict[str, str]:
    old = _views(dialect)
    found = {}
    for name, last in VIEWS.items():
        alias = last.split(".", 1)[0]
        extra = ", ".join(f"{alias}.{column}" for column in COLUMNS)
        found[name] = old[name].replace(last, f"{last}, {extra}")
    return found


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for table in COMPACTED:
        # Nullable: added in place on SQLite and without a rewrite on PostgreSQL.
        op.add_column(table, sa.Column("samples", sa.Integer(), nullable=True))
        op.add_column(table, sa.Column("watts_min", sa.Float(), nullable=True))
        op.add_column(table, sa.Column("watts_max", sa.Float(), nullable=True))
    op.create_table(
        "compacted_days",
        sa.Column("gateway_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("step_s", sa.Integer(), nullable=False),
        sa.Column("readings_before", sa.Integer(), nullable=False),
        sa.Column("readings_after", sa.Integer(), nullable=False),
        sa.Column("compacted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["gateways.id"],
            name=op.f("fk_compacted_days_gateway_id_gateways"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("gateway_id", "day", name=op.f("pk_compacted_days")),
        sqlite_with_rowid=False,
    )
    for name, body in _new_views(dialect).items():
        op.execute(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_table("compacted_days")
    for table in COMPACTED:
        for column in COLUMNS:
            # In place on SQLite too (3.35+): a batch copy would break the other views.
            op.drop_column(table, column)
    old = _views(dialect)
    for name in VIEWS:
        op.execute(f"CREATE VIEW {name} AS {old[name]}")
