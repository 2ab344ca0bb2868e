"""Initial schema: gateways, polls, readings, events, raw bodies.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model types: a migration must not change when the models do.
INSTANT = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WITHOUT_ROWID = {"sqlite_with_rowid": False}


def _floats(*names: str) -> list[sa.Column[float]]:
    return [sa.Column(name, sa.Float(), nullable=True) for name in names]


def upgrade() -> None:
    op.create_table(
        "gateways",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("part_number", sa.String(64), nullable=True),
        sa.Column("firmware", sa.String(64), nullable=True),
        sa.Column("metered", sa.Boolean(), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("first_seen_at", INSTANT, nullable=False),
        sa.Column("last_seen_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateways")),
        sa.UniqueConstraint("serial", name=op.f("uq_gateways_serial")),
    )
    op.create_table(
        "polls",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("gateway_id", sa.Integer(), nullable=False),
        sa.Column("started_at", INSTANT, nullable=False),
        sa.Column("finished_at", INSTANT, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.CheckConstraint("status IN ('ok', 'partial', 'failed')", name=op.f("ck_polls_status")),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["gateways.id"],
            name=op.f("fk_polls_gateway_id_gateways"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polls")),
        sa.UniqueConstraint(
            "gateway_id", "started_at", name=op.f("uq_polls_gateway_id_started_at")
        ),
    )
    op.create_table(
        "poll_endpoints",
        sa.Column("poll_id", BIG_ID, nullable=False),
        sa.Column("endpoint", sa.String(40), nullable=False),
        sa.Column("http_status", sa.SmallInteger(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("parse_failed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["polls.id"],
            name=op.f("fk_poll_endpoints_poll_id_polls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("poll_id", "endpoint", name=op.f("pk_poll_endpoints")),
        **WITHOUT_ROWID,
    )
    op.create_table(
        "raw_bodies",
        sa.Column("poll_id", BIG_ID, nullable=False),
        sa.Column("endpoint", sa.String(40), nullable=False),
        sa.Column("fetched_at", INSTANT, nullable=False),
        sa.Column("content_type", sa.String(100), nullable=True),
        sa.Column("body_zlib", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", INSTANT, nullable=True),
        sa.ForeignKeyConstraint(
            ["poll_id", "endpoint"],
            ["poll_endpoints.poll_id", "poll_endpoints.endpoint"],
            name=op.f("fk_raw_bodies_poll_id_poll_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("poll_id", "endpoint", name=op.f("pk_raw_bodies")),
    )
    op.create_index(op.f("ix_raw_bodies_expires_at"), "raw_bodies", ["expires_at"])
    op.create_table(
        "system_readings",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("gateway_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("measurement", sa.String(24), nullable=False),
        sa.Column("measured_at", INSTANT, nullable=False),
        *_floats("watts", "wh_lifetime"),
        sa.Column("active_count", sa.Integer(), nullable=True),
        *_floats("va", "var", "power_factor", "voltage_v", "current_a", "wh_stored"),
        sa.Column("state", sa.String(32), nullable=True),
        sa.Column("flags", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["gateways.id"],
            name=op.f("fk_system_readings_gateway_id_gateways"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_readings")),
        sa.UniqueConstraint(
            "gateway_id",
            "source",
            "measurement",
            "measured_at",
            name=op.f("uq_system_readings_gateway_id_source_measurement_measured_at"),
        ),
    )
    op.create_table(
        "phase_readings",
        sa.Column("reading_id", BIG_ID, nullable=False),
        sa.Column("phase", sa.SmallInteger(), nullable=False),
        *_floats("watts", "wh_lifetime", "va", "var", "power_factor", "voltage_v", "current_a"),
        sa.CheckConstraint("phase BETWEEN 1 AND 3", name=op.f("ck_phase_readings_phase")),
        sa.ForeignKeyConstraint(
            ["reading_id"],
            ["system_readings.id"],
            name=op.f("fk_phase_readings_reading_id_system_readings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reading_id", "phase", name=op.f("pk_phase_readings")),
        **WITHOUT_ROWID,
    )
    op.create_table(
        "meters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gateway_id", sa.Integer(), nullable=False),
        sa.Column("eid", sa.BigInteger(), nullable=False),
        sa.Column("measurement_type", sa.String(24), nullable=True),
        sa.Column("state", sa.String(16), nullable=True),
        sa.Column("phase_mode", sa.String(16), nullable=True),
        sa.Column("phase_count", sa.SmallInteger(), nullable=True),
        sa.Column("metering_status", sa.String(24), nullable=True),
        sa.Column("status_flags", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["gateways.id"],
            name=op.f("fk_meters_gateway_id_gateways"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meters")),
        sa.UniqueConstraint("gateway_id", "eid", name=op.f("uq_meters_gateway_id_eid")),
    )
    op.create_table(
        "meter_readings",
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.SmallInteger(), nullable=False),
        sa.Column("measured_at", INSTANT, nullable=False),
        *_floats(
            "watts",
            "va",
            "var",
            "power_factor",
            "voltage_v",
            "current_a",
            "frequency_hz",
            "wh_delivered",
            "wh_received",
        ),
        sa.CheckConstraint("channel BETWEEN 0 AND 3", name=op.f("ck_meter_readings_channel")),
        sa.ForeignKeyConstraint(
            ["meter_id"],
            ["meters.id"],
            name=op.f("fk_meter_readings_meter_id_meters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "meter_id", "channel", "measured_at", name=op.f("pk_meter_readings")
        ),
        **WITHOUT_ROWID,
    )
    op.create_table(
        "inverters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gateway_id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("device_type", sa.String(8), nullable=True),
        sa.Column("first_seen_at", INSTANT, nullable=False),
        sa.Column("last_seen_at", INSTANT, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["gateways.id"],
            name=op.f("fk_inverters_gateway_id_gateways"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inverters")),
        sa.UniqueConstraint("gateway_id", "serial", name=op.f("uq_inverters_gateway_id_serial")),
    )
    op.create_table(
        "inverter_readings",
        sa.Column("inverter_id", sa.Integer(), nullable=False),
        sa.Column("reported_at", INSTANT, nullable=False),
        *_floats(
            "watts",
            "max_watts",
            "interval_s",
            "wh_interval",
            "wh_lifetime",
            "dc_voltage_v",
            "dc_current_a",
            "ac_voltage_v",
            "ac_frequency_hz",
            "temperature_c",
        ),
        sa.ForeignKeyConstraint(
            ["inverter_id"],
            ["inverters.id"],
            name=op.f("fk_inverter_readings_inverter_id_inverters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("inverter_id", "reported_at", name=op.f("pk_inverter_readings")),
        **WITHOUT_ROWID,
    )
    op.create_table(
        "gateway_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("gateway_id", sa.Integer(), nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["gateways.id"],
            name=op.f("fk_gateway_events_gateway_id_gateways"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_events")),
    )
    op.create_index(op.f("ix_gateway_events_gateway_id_at"), "gateway_events", ["gateway_id", "at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_gateway_events_gateway_id_at"), table_name="gateway_events")
    op.drop_table("gateway_events")
    op.drop_table("inverter_readings")
    op.drop_table("inverters")
    op.drop_table("meter_readings")
    op.drop_table("meters")
    op.drop_table("phase_readings")
    op.drop_table("system_readings")
    op.drop_index(op.f("ix_raw_bodies_expires_at"), table_name="raw_bodies")
    op.drop_table("raw_bodies")
    op.drop_table("poll_endpoints")
    op.drop_table("polls")
    op.drop_table("gateways")
