"""What `envoylog status` reads from the database: each gateway's latest polls and rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from envoylog.db.battery import battery_now
from envoylog.db.energy import every_series
from envoylog.db.engine import sqlite_path
from envoylog.db.models import (
    METER_CHANNELS,
    Base,
    Battery,
    BatteryReading,
    BatterySystemReading,
    Gateway,
    Inverter,
    InverterReading,
    Meter,
    MeterReading,
    Poll,
    PollEndpoint,
    SystemReading,
)
from envoylog.db.store import Store

# How far back `envoylog status` looks for a gateway's last error: errors carry no index
# of their own, so a healthy gateway's search read every poll it ever made.
ERROR_LOOKBACK = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    serial: str
    name: str | None
    host: str
    firmware: str | None
    last_success_at: datetime | None
    last_poll_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    readings_last_24h: int
    battery_soc_pct: float | None = None  # the latest, all batteries together
    battery_soc_at: datetime | None = None


def gateway_statuses(store: Store, now: datetime) -> list[GatewayStatus]:
    """Summarise every gateway's logging: last good poll, last error (of the last
    ERROR_LOOKBACK), readings in 24 h. No search reads a gateway's whole history: over a
    year of a 36-inverter site, those that did took 0.7-1.7 s a gateway (docs/performance.md
    section 8)."""
    since = now - timedelta(hours=24)
    found: list[GatewayStatus] = []
    with store.reading("reading the status") as conn:
        columns = (Gateway.id, Gateway.serial, Gateway.name, Gateway.host, Gateway.firmware)
        gateways = conn.execute(sa.select(*columns).order_by(Gateway.serial)).all()
        # Status reads a database it does not upgrade: one from before the battery tables too.
        batteries = sa.inspect(conn).has_table(BatteryReading.__tablename__)
        for gateway in gateways:
            polls = sa.select(Poll.id, Poll.finished_at, Poll.status).where(
                Poll.gateway_id == gateway.id
            )
            last = conn.execute(polls.order_by(Poll.started_at.desc()).limit(1)).first()
            good = conn.execute(
                polls.where(Poll.status != "failed").order_by(Poll.started_at.desc()).limit(1)
            ).first()
            error = conn.execute(
                sa.select(PollEndpoint.error, Poll.finished_at)
                .join(Poll, Poll.id == PollEndpoint.poll_id)
                .where(Poll.gateway_id == gateway.id, PollEndpoint.error.is_not(None))
                .where(Poll.started_at >= now - ERROR_LOOKBACK)
                .order_by(Poll.started_at.desc())
                .limit(1)
            ).first()
            soc = battery_now(conn, gateway.id) if batteries else None
            found.append(
                GatewayStatus(
                    serial=gateway.serial,
                    name=gateway.name,
                    host=gateway.host,
                    firmware=gateway.firmware,
                    last_success_at=good.finished_at if good else None,
                    last_poll_at=last.finished_at if last else None,
                    last_error=error.error if error else None,
                    last_error_at=error.finished_at if error else None,
                    readings_last_24h=_readings_since(conn, gateway.id, since, batteries),
                    battery_soc_at=soc[0] if soc else None,
                    battery_soc_pct=soc[1] if soc else None,
                )
            )
    return found


def _readings_since(
    conn: sa.Connection, gateway_id: int, since: datetime, batteries: bool = True
) -> int:
    counts = [
        # Series named (source and measurement, channel): the keys are searched by instant.
        sa.select(sa.func.count())
        .select_from(SystemReading)
        .where(SystemReading.gateway_id == gateway_id, SystemReading.measured_at >= since)
        .where(every_series(SystemReading.source, SystemReading.measurement)),
        sa.select(sa.func.count())
        .select_from(MeterReading)
        .join(Meter, Meter.id == MeterReading.meter_id)
        .where(Meter.gateway_id == gateway_id, MeterReading.measured_at >= since)
        .where(MeterReading.channel.in_(METER_CHANNELS)),
        sa.select(sa.func.count())
        .select_from(InverterReading)
        .join(Inverter, Inverter.id == InverterReading.inverter_id)
        .where(Inverter.gateway_id == gateway_id, InverterReading.reported_at >= since),
    ]
    if batteries:
        counts += [
            sa.select(sa.func.count())
            .select_from(BatteryReading)
            .join(Battery, Battery.id == BatteryReading.battery_id)
            .where(Battery.gateway_id == gateway_id, BatteryReading.measured_at >= since),
            sa.select(sa.func.count())
            .select_from(BatterySystemReading)
            .where(
                BatterySystemReading.gateway_id == gateway_id,
                BatterySystemReading.measured_at >= since,
            ),
        ]
    return sum(conn.execute(query).scalar_one() for query in counts)


def database_bytes(store: Store) -> int | None:
    """The database's size on disk (SQLite file + WAL, or PostgreSQL's database size)."""
    path = sqlite_path(store.engine.url)
    if path is not None:
        files = [path, path.with_name(path.name + "-wal")]
        return sum(f.stat().st_size for f in files if f.exists())
    if store.dialect == "postgresql":
        with store.reading("measuring the database") as conn:
            size = conn.execute(sa.text("select pg_database_size(current_database())"))
            return int(size.scalar_one())
    return None


def row_counts(store: Store, tables: tuple[str, ...]) -> dict[str, int]:
    """Count the rows of each named envoylog table."""
    known = set(Base.metadata.tables)
    with store.reading("counting rows") as conn:
        return {
            table: int(
                conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()
            )
            for table in tables
            if table in known
        }
