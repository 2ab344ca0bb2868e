"""The tables, as typed SQLAlchemy models (the migrations create them; a test keeps both in step).

Reading tables are keyed by their natural key. On SQLite they are ``WITHOUT
ROWID`` tables, so each row is stored once, inside its key's b-tree, instead of
once in the table and again in a unique index.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from envoylog.db.types import UTCDateTime
from envoylog.records import ReadingFlag

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A 64-bit id on PostgreSQL; on SQLite it must be spelled INTEGER to alias the rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# Bits of the flags of system, meter, inverter and battery readings. Stable forever: rows on
# disk hold them.
FLAG_BITS: dict[ReadingFlag, int] = {
    ReadingFlag.CT_INACTIVE: 1,
    ReadingFlag.OVERWRITTEN_BY_NET: 2,
    ReadingFlag.ZERO_LIFETIME: 4,
    ReadingFlag.NO_READING_TIME: 8,
    ReadingFlag.IMPLAUSIBLE_COUNTER: 16,
    ReadingFlag.IMPLAUSIBLE_POWER: 32,
    ReadingFlag.CLOCK_SKEW: 64,
    ReadingFlag.SOC_FROM_POWER: 128,
    ReadingFlag.SOC_FROM_INVENTORY: 256,
    ReadingFlag.IMPLAUSIBLE_SOC: 512,
}

WITHOUT_ROWID = {"sqlite_with_rowid": False}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CompactedColumns:
    """What a compacted reading adds (revision 0006): the readings folded into it.

    NULL ``samples``: the reading as polled. Otherwise the row keeps its own instant and
    counters and stands for ``samples`` readings, from it up to the next row of its series:
    ``watts`` is their mean, ``watts_min`` and ``watts_max`` their extremes.
    """

    samples: Mapped[int | None] = mapped_column(Integer)
    watts_min: Mapped[float | None] = mapped_column(Float)
    watts_max: Mapped[float | None] = mapped_column(Float)


class Gateway(Base):
    __tablename__ = "gateways"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(255))
    part_number: Mapped[str | None] = mapped_column(String(64))
    firmware: Mapped[str | None] = mapped_column(String(64))
    metered: Mapped[bool | None]
    timezone: Mapped[str | None] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Poll(Base):
    """A poll, or on a compacted day a run of polls (revision 0008).

    NULL ``samples``: the poll as polled. Otherwise the row stands for ``samples``
    successive polls (envoylog.history.poll_runs), from ``started_at`` (the first's start) to
    ``last_started_at`` (the last's start); ``finished_at`` is the last's end.
    """

    __tablename__ = "polls"
    __table_args__ = (
        UniqueConstraint("gateway_id", "started_at"),
        CheckConstraint("status IN ('ok', 'partial', 'failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(ForeignKey("gateways.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(8))
    samples: Mapped[int | None] = mapped_column(Integer)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PollEndpoint(Base):
    __tablename__ = "poll_endpoints"
    __table_args__ = WITHOUT_ROWID

    poll_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("polls.id", ondelete="CASCADE"), primary_key=True
    )
    endpoint: Mapped[str] = mapped_column(String(40), primary_key=True)
    http_status: Mapped[int | None] = mapped_column(SmallInteger)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    parse_failed: Mapped[bool] = mapped_column(server_default=text("false"))
    # A run's endpoint (revision 0008): how many of its polls fetched it, the first's and
    # the last's start. NULL: the endpoint of a poll as polled.
    samples: Mapped[int | None] = mapped_column(Integer)
    first_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RawBody(Base):
    __tablename__ = "raw_bodies"
    __table_args__ = (
        ForeignKeyConstraint(
            ["poll_id", "endpoint"],
            ["poll_endpoints.poll_id", "poll_endpoints.endpoint"],
            ondelete="CASCADE",
        ),
        Index(None, "expires_at"),
    )

    poll_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(40), primary_key=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    content_type: Mapped[str | None] = mapped_column(String(100))
    body_zlib: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SystemReading(CompactedColumns, Base):
    __tablename__ = "system_readings"
    __table_args__ = (UniqueConstraint("gateway_id", "source", "measurement", "measured_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(ForeignKey("gateways.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))
    measurement: Mapped[str] = mapped_column(String(24))
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime)
    watts: Mapped[float | None] = mapped_column(Float)
    wh_lifetime: Mapped[float | None] = mapped_column(Float)
    active_count: Mapped[int | None] = mapped_column(Integer)
    va: Mapped[float | None] = mapped_column(Float)
    var: Mapped[float | None] = mapped_column(Float)
    power_factor: Mapped[float | None] = mapped_column(Float)
    voltage_v: Mapped[float | None] = mapped_column(Float)
    current_a: Mapped[float | None] = mapped_column(Float)
    wh_stored: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str | None] = mapped_column(String(32))
    flags: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))


PHASES = "phase BETWEEN 1 AND 3"


class PhaseReading(Base):
    __tablename__ = "phase_readings"
    __table_args__ = (
        CheckConstraint(PHASES, name="phase"),
        WITHOUT_ROWID,
    )

    reading_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("system_readings.id", ondelete="CASCADE"), primary_key=True
    )
    phase: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    watts: Mapped[float | None] = mapped_column(Float)
    wh_lifetime: Mapped[float | None] = mapped_column(Float)
    va: Mapped[float | None] = mapped_column(Float)
    var: Mapped[float | None] = mapped_column(Float)
    power_factor: Mapped[float | None] = mapped_column(Float)
    voltage_v: Mapped[float | None] = mapped_column(Float)
    current_a: Mapped[float | None] = mapped_column(Float)


class Meter(Base):
    __tablename__ = "meters"
    __table_args__ = (UniqueConstraint("gateway_id", "eid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(ForeignKey("gateways.id", ondelete="CASCADE"))
    eid: Mapped[int] = mapped_column(BigInteger)
    measurement_type: Mapped[str | None] = mapped_column(String(24))
    state: Mapped[str | None] = mapped_column(String(16))
    phase_mode: Mapped[str | None] = mapped_column(String(16))
    phase_count: Mapped[int | None] = mapped_column(SmallInteger)
    metering_status: Mapped[str | None] = mapped_column(String(24))
    status_flags: Mapped[str | None] = mapped_column(String(200))


# A meter reading's channels: 0 the meter's total, 1-3 its phases. A search by instant
# names them all, so that the key (meter_id, channel, measured_at) bounds it to the
# instants; without the channel it reads the meter's whole history.
METER_CHANNELS: tuple[int, ...] = (0, 1, 2, 3)


class MeterReading(CompactedColumns, Base):
    __tablename__ = "meter_readings"
    __table_args__ = (
        CheckConstraint("channel BETWEEN 0 AND 3", name="channel"),
        WITHOUT_ROWID,
    )

    meter_id: Mapped[int] = mapped_column(
        ForeignKey("meters.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    watts: Mapped[float | None] = mapped_column(Float)
    va: Mapped[float | None] = mapped_column(Float)
    var: Mapped[float | None] = mapped_column(Float)
    power_factor: Mapped[float | None] = mapped_column(Float)
    voltage_v: Mapped[float | None] = mapped_column(Float)
    current_a: Mapped[float | None] = mapped_column(Float)
    frequency_hz: Mapped[float | None] = mapped_column(Float)
    wh_delivered: Mapped[float | None] = mapped_column(Float)
    wh_received: Mapped[float | None] = mapped_column(Float)
    flags: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))  # 0003


class Inverter(Base):
    __tablename__ = "inverters"
    __table_args__ = (UniqueConstraint("gateway_id", "serial"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(ForeignKey("gateways.id", ondelete="CASCADE"))
    serial: Mapped[str] = mapped_column(String(32))
    device_type: Mapped[str | None] = mapped_column(String(8))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool | None]


class InverterReading(CompactedColumns, Base):
    __tablename__ = "inverter_readings"
    __table_args__ = WITHOUT_ROWID

    inverter_id: Mapped[int] = mapped_column(
        ForeignKey("inverters.id", ondelete="CASCADE"), primary_key=True
    )
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    watts: Mapped[float | None] = mapped_column(Float)
    max_watts: Mapped[float | None] = mapped_column(Float)
    interval_s: Mapped[float | None] = mapped_column(Float)
    wh_interval: Mapped[float | None] = mapped_column(Float)
    wh_lifetime: Mapped[float | None] = mapped_column(Float)
    dc_voltage_v: Mapped[float | None] = mapped_column(Float)
    dc_current_a: Mapped[float | None] = mapped_column(Float)
    ac_voltage_v: Mapped[float | None] = mapped_column(Float)
    ac_frequency_hz: Mapped[float | None] = mapped_column(Float)
    temperature_c: Mapped[float | None] = mapped_column(Float)
    flags: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))  # 0003


class GatewayEvent(Base):
    __tablename__ = "gateway_events"
    __table_args__ = (Index(None, "gateway_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(ForeignKey("gateways.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)


# --- batteries (revision 0005) --------------------------------------------------------


class Battery(Base):
    __tablename__ = "batteries"
    __table_args__ = (
        UniqueConstraint("gateway_id", "serial"),
        CheckConstraint("kind IN ('encharge', 'acb')", name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(ForeignKey("gateways.id", ondelete="CASCADE"))
    serial: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))
    part_number: Mapped[str | None] = mapped_column(String(64))
    capacity_wh: Mapped[float | None] = mapped_column(Float)
    installed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The battery's own last report and whether it said it was communicating: a battery
    # that stopped talking keeps being listed with an old report.
    last_report_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    communicating: Mapped[bool | None]


class BatteryReading(Base):
    __tablename__ = "battery_readings"
    __table_args__ = WITHOUT_ROWID

    battery_id: Mapped[int] = mapped_column(
        ForeignKey("batteries.id", ondelete="CASCADE"), primary_key=True
    )
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    soc_pct: Mapped[float | None] = mapped_column(Float)
    watts: Mapped[float | None] = mapped_column(Float)
    va: Mapped[float | None] = mapped_column(Float)
    temperature_c: Mapped[float | None] = mapped_column(Float)
    max_cell_temperature_c: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str | None] = mapped_column(String(32))
    communicating: Mapped[bool | None]
    operating: Mapped[bool | None]
    sleep_enabled: Mapped[bool | None]
    dc_switch_off: Mapped[bool | None]
    led_status: Mapped[int | None] = mapped_column(SmallInteger)
    flags: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))


class BatterySystemReading(Base):
    __tablename__ = "battery_system_readings"
    __table_args__ = WITHOUT_ROWID

    gateway_id: Mapped[int] = mapped_column(
        ForeignKey("gateways.id", ondelete="CASCADE"), primary_key=True
    )
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    soc_pct: Mapped[float | None] = mapped_column(Float)
    max_capacity_wh: Mapped[float | None] = mapped_column(Float)
    available_wh: Mapped[float | None] = mapped_column(Float)
    backup_wh: Mapped[float | None] = mapped_column(Float)
    reserve_pct: Mapped[float | None] = mapped_column(Float)
    adjusted_reserve_pct: Mapped[float | None] = mapped_column(Float)
    soh_pct: Mapped[float | None] = mapped_column(Float)
    encharge_soc_pct: Mapped[float | None] = mapped_column(Float)
    encharge_capacity_wh: Mapped[float | None] = mapped_column(Float)
    acb_soc_pct: Mapped[float | None] = mapped_column(Float)
    acb_wh: Mapped[float | None] = mapped_column(Float)
    flags: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


gateways = _table(Gateway)
polls = _table(Poll)
poll_endpoints = _table(PollEndpoint)
raw_bodies = _table(RawBody)
system_readings = _table(SystemReading)
phase_readings = _table(PhaseReading)
meters = _table(Meter)
meter_readings = _table(MeterReading)
inverters = _table(Inverter)
inverter_readings = _table(InverterReading)
gateway_events = _table(GatewayEvent)
batteries = _table(Battery)
battery_readings = _table(BatteryReading)
battery_system_readings = _table(BatterySystemReading)


# --- energy rollups (revision 0002) ------------------------------------------------
# Written by envoylog.energy from the counters above; recomputing a period replaces it.


class EnergyColumns:
    """What every gateway energy period holds: Wh per flow, how it was obtained, coverage."""

    production_wh: Mapped[float | None] = mapped_column(Float)
    consumption_wh: Mapped[float | None] = mapped_column(Float)
    import_wh: Mapped[float | None] = mapped_column(Float)
    export_wh: Mapped[float | None] = mapped_column(Float)
    net_grid_wh: Mapped[float | None] = mapped_column(Float)
    battery_charge_wh: Mapped[float | None] = mapped_column(Float)
    battery_discharge_wh: Mapped[float | None] = mapped_column(Float)
    self_consumption_wh: Mapped[float | None] = mapped_column(Float)
    self_sufficiency: Mapped[float | None] = mapped_column(Float)
    peak_production_w: Mapped[float | None] = mapped_column(Float)
    coverage: Mapped[float] = mapped_column(Float)
    estimated_wh: Mapped[float] = mapped_column(Float)
    corrections: Mapped[int] = mapped_column(Integer)
    production_source: Mapped[str | None] = mapped_column(String(32))
    consumption_source: Mapped[str | None] = mapped_column(String(32))
    grid_source: Mapped[str | None] = mapped_column(String(32))
    battery_source: Mapped[str | None] = mapped_column(String(32))
    # The gateway's battery state of charge over the period (revision 0005): lowest,
    # highest and the last reading in it (%).
    soc_min_pct: Mapped[float | None] = mapped_column(Float)
    soc_max_pct: Mapped[float | None] = mapped_column(Float)
    soc_end_pct: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EnergyHourly(EnergyColumns, Base):
    __tablename__ = "energy_hourly"
    __table_args__ = WITHOUT_ROWID

    gateway_id: Mapped[int] = mapped_column(
        ForeignKey("gateways.id", ondelete="CASCADE"), primary_key=True
    )
    start_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    local_start: Mapped[str] = mapped_column(String(25))  # '2024-10-27T02:00:00+01:00'


class EnergyDaily(EnergyColumns, Base):
    __tablename__ = "energy_daily"
    __table_args__ = WITHOUT_ROWID

    gateway_id: Mapped[int] = mapped_column(
        ForeignKey("gateways.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # the gateway's local date


class EnergyMonthly(EnergyColumns, Base):
    __tablename__ = "energy_monthly"
    __table_args__ = WITHOUT_ROWID

    gateway_id: Mapped[int] = mapped_column(
        ForeignKey("gateways.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # first day of the local month


class InverterDaily(Base):
    __tablename__ = "inverter_daily"
    __table_args__ = WITHOUT_ROWID

    inverter_id: Mapped[int] = mapped_column(
        ForeignKey("inverters.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    wh: Mapped[float | None] = mapped_column(Float)
    peak_w: Mapped[float | None] = mapped_column(Float)
    coverage: Mapped[float] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(String(32))  # lifetime / interval_sum
    corrections: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- tiered history (revision 0006) -------------------------------------------------


class CompactedDay(Base):
    """A gateway's local day whose readings were compacted (envoylog.history)."""

    __tablename__ = "compacted_days"
    __table_args__ = WITHOUT_ROWID

    gateway_id: Mapped[int] = mapped_column(
        ForeignKey("gateways.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # the gateway's local date
    step_s: Mapped[int] = mapped_column(Integer)
    readings_before: Mapped[int] = mapped_column(Integer)
    readings_after: Mapped[int] = mapped_column(Integer)
    compacted_at: Mapped[datetime] = mapped_column(UTCDateTime)


compacted_days = _table(CompactedDay)


# --- the database's own identity (revision 0004) ----------------------------------


class DatabaseIdentity(Base):
    """One row, made with the schema: an id that names this database wherever it is reached
    from, so polls spooled for it are never replayed into another (envoylog.db.spool)."""

    __tablename__ = "envoylog_database"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # a random UUID
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


database_identity = _table(DatabaseIdentity)


# --- PostgreSQL partitions (revision 0007) -----------------------------------------
# On PostgreSQL the reading tables are partitioned by the UTC month of their instant
# (envoylog.db.partitions), so their keys hold that instant: system_readings is keyed by
# (id, measured_at), and a phase row carries its system reading's measured_at, the
# partition key the two share and half of the key its foreign key refers to. SQLite
# keeps the tables above as they are.


def _partitioned_metadata() -> MetaData:
    found = MetaData(naming_convention=NAMING_CONVENTION)
    for table in Base.metadata.sorted_tables:
        if table.name != "phase_readings":
            table.to_metadata(found)
    Table(
        "phase_readings",
        found,
        *(
            Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
            for c in phase_readings.columns
        ),
        Column("measured_at", UTCDateTime, primary_key=True),
        CheckConstraint(PHASES, name="phase"),
        ForeignKeyConstraint(
            ["reading_id", "measured_at"],
            ["system_readings.id", "system_readings.measured_at"],
            ondelete="CASCADE",
        ),
    )
    return found


POSTGRESQL_METADATA = _partitioned_metadata()


def phase_table(dialect: str) -> Table:
    """The phase_readings table as the dialect's schema has it (with ``measured_at`` on
    PostgreSQL)."""
    if dialect == "postgresql":
        return POSTGRESQL_METADATA.tables["phase_readings"]
    return phase_readings
