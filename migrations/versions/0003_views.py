"""Views for SQL users: readings with gateway and local time, the latest power, inverter days.

Local time comes from the rolled-up hour holding the reading (``energy_hourly``
``local_start`` carries the UTC offset of each local hour), so it is the same on
both backends, follows the configured timezone like the energy tables, and is
right on DST days; it is NULL for a reading whose hour is not rolled up yet
(`envoylog run` rolls up hourly; `envoylog rollup`, `export` and `report` do
it on demand).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWS = (
    "meter_readings_local",
    "system_readings_local",
    "inverter_readings_local",
    "latest_power",
    "inverter_days",
)

# Every (source, measurement) a system reading can have (envoylog.records): the latest
# of each is found by one index lookup instead of a scan of years of readings.
SYSTEM_SERIES = [
    (source, measurement)
    for source in ("eim", "inverters", "api_v1", "acb", "legacy_page")
    for measurement in ("production", "total-consumption", "net-consumption", "storage")
]


def _local_time(instant: str, gateway_id: str, dialect: str) -> str:
    """The gateway's wall-clock time of ``instant``, from the offset of its rolled-up hour
    (or of the hour ending at it: a last reading on the hour starts no rolled-up hour)."""
    if dialect == "postgresql":
        shifted = f"{instant} AT TIME ZONE 'UTC' + CAST(substr(h.local_start, 20) AS interval)"
        earliest = f"{instant} - interval '1 hour'"
    else:
        shifted = f"datetime({instant}, substr(h.local_start, 20))"
        earliest = f"datetime({instant}, '-1 hour')"
    return (
        f"(SELECT {shifted} FROM energy_hourly h WHERE h.gateway_id = {gateway_id} "
        f"AND h.start_at <= {instant} AND h.start_at >= {earliest} "
        "ORDER BY h.start_at DESC LIMIT 1)"
    )


def _views(dialect: str) -> dict[str, str]:
    series = " UNION ALL ".join(
        f"SELECT '{source}' AS source, '{measurement}' AS measurement"
        for source, measurement in SYSTEM_SERIES
    )
    return {
        "meter_readings_local": f"""
SELECT g.id AS gateway_id, g.name AS gateway_name, g.serial AS gateway_serial,
       g.timezone, m.id AS meter_id, m.eid AS meter_eid, m.measurement_type, r.channel,
       r.measured_at, {_local_time("r.measured_at", "g.id", dialect)} AS local_time,
       r.watts, r.va, r.var, r.power_factor, r.voltage_v, r.current_a, r.frequency_hz,
       r.wh_delivered, r.wh_received
FROM meter_readings r
JOIN meters m ON m.id = r.meter_id
JOIN gateways g ON g.id = m.gateway_id""",
        "system_readings_local": f"""
SELECT g.id AS gateway_id, g.name AS gateway_name, g.serial AS gateway_serial,
       g.timezone, s.id AS reading_id, s.source, s.measurement,
       s.measured_at, {_local_time("s.measured_at", "g.id", dialect)} AS local_time,
       s.watts, s.wh_lifetime, s.active_count, s.va, s.var, s.power_factor, s.voltage_v,
       s.current_a, s.wh_stored, s.state, s.flags
FROM system_readings s
JOIN gateways g ON g.id = s.gateway_id""",
        "inverter_readings_local": f"""
SELECT g.id AS gateway_id, g.name AS gateway_name, g.serial AS gateway_serial,
       g.timezone, i.id AS inverter_id, i.serial AS inverter_serial, i.device_type, i.active,
       r.reported_at, {_local_time("r.reported_at", "g.id", dialect)} AS local_time,
       r.watts, r.max_watts, r.interval_s, r.wh_interval, r.wh_lifetime, r.dc_voltage_v,
       r.dc_current_a, r.ac_voltage_v, r.ac_frequency_hz, r.temperature_c
FROM inverter_readings r
JOIN inverters i ON i.id = r.inverter_id
JOIN gateways g ON g.id = i.gateway_id""",
        "latest_power": f"""
SELECT g.id AS gateway_id, g.name AS gateway_name, g.serial AS gateway_serial,
       m.measurement_type AS measurement, 'ct' AS source, r.measured_at, r.watts, 0 AS flags
FROM (SELECT m.id, (SELECT max(x.measured_at) FROM meter_readings x
                    WHERE x.meter_id = m.id AND x.channel = 0) AS last_at
      FROM meters m) l
JOIN meters m ON m.id = l.id
JOIN gateways g ON g.id = m.gateway_id
JOIN meter_readings r ON r.meter_id = l.id AND r.channel = 0 AND r.measured_at = l.last_at
UNION ALL
SELECT g.id, g.name, g.serial, s.measurement, s.source, s.measured_at, s.watts, s.flags
FROM (SELECT g.id AS gateway_id, k.source, k.measurement,
             (SELECT max(x.measured_at) FROM system_readings x
              WHERE x.gateway_id = g.id AND x.source = k.source
                AND x.measurement = k.measurement) AS last_at
      FROM gateways g CROSS JOIN ({series}) k) l
JOIN gateways g ON g.id = l.gateway_id
JOIN system_readings s ON s.gateway_id = l.gateway_id AND s.source = l.source
 AND s.measurement = l.measurement AND s.measured_at = l.last_at""",
        "inverter_days": """
SELECT g.id AS gateway_id, g.name AS gateway_name, g.serial AS gateway_serial,
       i.id AS inverter_id, i.serial AS inverter_serial, i.active, d.day,
       d.wh, d.peak_w, d.coverage, d.source, d.corrections
FROM inverter_daily d
JOIN inverters i ON i.id = d.inverter_id
JOIN gateways g ON g.id = i.gateway_id""",
    }


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, body in _views(dialect).items():
        op.execute(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
