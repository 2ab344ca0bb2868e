"""Batteries: each battery, its readings, the gateway's aggregates; daily state of charge.

Adds ``batteries``, ``battery_readings`` and ``battery_system_readings``, the
state of charge columns of the energy tables (lowest, highest and last % of each
period) and the ``battery_readings_local`` view.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True)
WITHOUT_ROWID = {"sqlite_with_rowid": False}
ENERGY_TABLES = ("energy_hourly", "energy_daily", "energy_monthly")
SOC_COLUMNS = ("soc_min_pct", "soc_max_pct", "soc_end_pct")

# The local time of an instant, as the views of revision 0003 give it.
_local_time = importlib.import_module(
    "envoylog.migrations.versions.0003_flags_and_views"
)._local_time


def _floats(*names: str) -> list[sa.Column[float]]:
    return [sa.Column(name, sa.Float(), nullable=True) for name in names]


def _booleans(*names: str) -> list[sa.Column[bool]]:
    return [sa.Column(name, sa.Boolean(), nullable=True) for name in names]


def _gateway_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["gateway_id"],
        ["gateways.id"],
        name=op.f(f"fk_{table}_gateway_id_gateways"),
        ondelete="CASCADE",
    )


def _flags() -> sa.Column[int]:
    return sa.Column("flags", sa.SmallInteger(), server_default=sa.text("0"), nullable=False)


def _view(dialect: str) -> str:
    return f"""
SELECT g.id AS gateway_id, g.name AS gateway_name, g.serial AS gateway_serial,
       g.timezone, b.id AS battery_id, b.serial AS battery_serial, b.kind,
       r.measured_at, {_local_time("r.measured_at", "g.id", dialect)} AS local_time,
       r.soc_pct, r.watts, r.va, r.temperature_c, r.max_cell_temperature_c, r.status,
       r.communicating, r.operating, r.sleep_enabled, r.dc_switch_off, r.led_status, r.flags
FROM battery_readings r
JOIN batteries b ON b.id = r.battery_id
JOIN gateways g ON g.id = b.gateway_id"""


def upgrade() -> None:
    op.create_table(
        "batteries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gateway_id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("part_number", sa.String(64), nullable=True),
        sa.Column("capacity_wh", sa.Float(), nullable=True),
        sa.Column("installed_at", INSTANT, nullable=True),
        sa.Column("first_seen_at", INSTANT, nullable=False),
        sa.Column("last_seen_at", INSTANT, nullable=False),
        sa.Column("last_report_at", INSTANT, nullable=True),
        sa.Column("communicating", sa.Boolean(), nullable=True),
        sa.CheckConstraint("kind IN ('encharge', 'acb')", name=op.f("ck_batteries_kind")),
        _gateway_fk("batteries"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batteries")),
        sa.UniqueConstraint("gateway_id", "serial", name=op.f("uq_batteries_gateway_id_serial")),
    )
    op.create_table(
        "battery_readings",
        sa.Column("battery_id", sa.Integer(), nullable=False),
        sa.Column("measured_at", INSTANT, nullable=False),
        *_floats("soc_pct", "watts", "va", "temperature_c", "max_cell_temperature_c"),
        sa.Column("status", sa.String(32), nullable=True),
        *_booleans("communicating", "operating", "sleep_enabled", "dc_switch_off"),
        sa.Column("led_status", sa.SmallInteger(), nullable=True),
        _flags(),
        sa.ForeignKeyConstraint(
            ["battery_id"],
            ["batteries.id"],
            name=op.f("fk_battery_readings_battery_id_batteries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("battery_id", "measured_at", name=op.f("pk_battery_readings")),
        **WITHOUT_ROWID,
    )
    op.create_table(
        "battery_system_readings",
        sa.Column("gateway_id", sa.Integer(), nullable=False),
        sa.Column("measured_at", INSTANT, nullable=False),
        *_floats(
            "soc_pct",
            "max_capacity_wh",
            "available_wh",
            "backup_wh",
            "reserve_pct",
            "adjusted_reserve_pct",
            "soh_pct",
            "encharge_soc_pct",
            "encharge_capacity_wh",
            "acb_soc_pct",
            "acb_wh",
        ),
        _flags(),
        _gateway_fk("battery_system_readings"),
        sa.PrimaryKeyConstraint(
            "gateway_id", "measured_at", name=op.f("pk_battery_system_readings")
        ),
        **WITHOUT_ROWID,
    )
    for table in ENERGY_TABLES:
        for column in _floats(*SOC_COLUMNS):
            op.add_column(table, column)  # nullable: SQLite adds it in place
    op.execute(f"CREATE VIEW battery_readings_local AS {_view(op.get_bind().dialect.name)}")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS battery_readings_local")
    for table in ENERGY_TABLES:
        for column in SOC_COLUMNS:
            # In place on SQLite too (3.35+): a batch copy would break the views on the table.
            op.drop_column(table, column)
    op.drop_table("battery_system_readings")
    op.drop_table("battery_readings")
    op.drop_table("batteries")
