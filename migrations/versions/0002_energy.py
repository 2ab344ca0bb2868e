"""Energy rollups: hourly, daily and monthly energy per gateway, daily energy per inverter.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True)
WITHOUT_ROWID = {"sqlite_with_rowid": False}


def _energy_columns() -> list[sa.Column[object]]:
    floats = (
        "production_wh",
        "consumption_wh",
        "import_wh",
        "export_wh",
        "net_grid_wh",
        "battery_charge_wh",
        "battery_discharge_wh",
        "self_consumption_wh",
        "self_sufficiency",
        "peak_production_w",
    )
    columns: list[sa.Column[object]] = [sa.Column(n, sa.Float(), nullable=True) for n in floats]
    columns += [
        sa.Column("coverage", sa.Float(), nullable=False),
        sa.Column("estimated_wh", sa.Float(), nullable=False),
        sa.Column("corrections", sa.Integer(), nullable=False),
        sa.Column("production_source", sa.String(32), nullable=True),
        sa.Column("consumption_source", sa.String(32), nullable=True),
        sa.Column("grid_source", sa.String(32), nullable=True),
        sa.Column("battery_source", sa.String(32), nullable=True),
        sa.Column("computed_at", INSTANT, nullable=False),
    ]
    return columns


def _gateway_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["gateway_id"],
        ["gateways.id"],
        name=op.f(f"fk_{table}_gateway_id_gateways"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "energy_hourly",
        sa.Column("gateway_id", sa.Integer(), nullable=False),
        sa.Column("start_at", INSTANT, nullable=False),
        sa.Column("local_start", sa.String(25), nullable=False),
        *_energy_columns(),
        _gateway_fk("energy_hourly"),
        sa.PrimaryKeyConstraint("gateway_id", "start_at", name=op.f("pk_energy_hourly")),
        **WITHOUT_ROWID,
    )
    op.create_table(
        "energy_daily",
        sa.Column("gateway_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *_energy_columns(),
        _gateway_fk("energy_daily"),
        sa.PrimaryKeyConstraint("gateway_id", "day", name=op.f("pk_energy_daily")),
        **WITHOUT_ROWID,
    )
    op.create_table(
        "energy_monthly",
        sa.Column("gateway_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        *_energy_columns(),
        _gateway_fk("energy_monthly"),
        sa.PrimaryKeyConstraint("gateway_id", "month", name=op.f("pk_energy_monthly")),
        **WITHOUT_ROWID,
    )
    op.create_table(
        "inverter_daily",
        sa.Column("inverter_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("wh", sa.Float(), nullable=True),
        sa.Column("peak_w", sa.Float(), nullable=True),
        sa.Column("coverage", sa.Float(), nullable=False),
        sa.Column("source", sa.String(32), nullable=True),
        sa.Column("corrections", sa.Integer(), nullable=False),
        sa.Column("computed_at", INSTANT, nullable=False),
        sa.ForeignKeyConstraint(
            ["inverter_id"],
            ["inverters.id"],
            name=op.f("fk_inverter_daily_inverter_id_inverters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("inverter_id", "day", name=op.f("pk_inverter_daily")),
        **WITHOUT_ROWID,
    )


def downgrade() -> None:
    op.drop_table("inverter_daily")
    op.drop_table("energy_monthly")
    op.drop_table("energy_daily")
    op.drop_table("energy_hourly")
