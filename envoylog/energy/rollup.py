"""Persisted, incremental energy rollups: counters -> energy_hourly/daily/monthly, inverter_daily.

``rollup`` recomputes a range of local days of one or every gateway and
replaces what was stored for it, so running it twice gives the same rows
(``computed_at`` aside). For each gateway and range:

- one counter per flow is chosen over the whole range (flows.choose_flows) and
  named in the ``*_source`` columns: never a splice of two counters;
- the range is processed a local month at a time, each read with six hours
  of readings on either side (plus the nearest reading beyond), so a year
  never sits in memory and edges are judged as in one long run;
- production's jump limit is the sum of the inverters' ``max_watts`` (their
  highest report), else 1.5 x the highest production power seen; other flows
  have no limit, since grid, load and battery power have no bound we know;
- battery charge and discharge come from the storage CT, else from each battery's
  power integrated across readings at most 30 minutes apart (``power-integral``, all of
  it in ``estimated_wh``); the period's state of charge (lowest, highest, last) from
  the battery tables (db.battery);
- a period's ``coverage`` is the lowest coverage of the flows it reports, as
  its figures (self-sufficiency: consumption and import) are only as complete
  as their weakest input;
- counter corrections become ``counter-*`` gateway_events; a recompute
  replaces the events of its range.

Monthly rows are rebuilt from the stored daily rows of every month touched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from envoylog.db import Store
from envoylog.db import battery as battery_sql
from envoylog.db import energy as sql
from envoylog.energy.flows import CounterSource, Flow, FlowChoice, choose_flows, meter_sources
from envoylog.energy.flows import system_source as system_counter
from envoylog.energy.periods import Resolution, local_midnight
from envoylog.energy.series import Window, load_window
from envoylog.energy.tables import gateway_rows, inverter_rows, month_rows, source_columns
from envoylog.records import Measurement, Source

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (days done, days in total)


@dataclass(frozen=True, slots=True)
class GatewayRollup:
    """What was recomputed for one gateway."""

    serial: str
    name: str | None
    timezone: str
    first_day: date
    end_day: date  # exclusive
    sources: Mapping[str, str | None]
    reasons: Mapping[str, str]
    corrections: int
    warnings: tuple[str, ...] = ()

    @property
    def days(self) -> int:
        return (self.end_day - self.first_day).days


@dataclass(frozen=True, slots=True)
class RollupSummary:
    gateways: tuple[GatewayRollup, ...] = field(default_factory=tuple)

    @property
    def days(self) -> int:
        return sum(g.days for g in self.gateways)


@dataclass(frozen=True, slots=True)
class _Plan:
    gateway: sql.GatewayRow
    zone: str
    first: date
    end: date
    warnings: tuple[str, ...]


def rollup(
    store: Store,
    *,
    gateway: str | None = None,
    start: date | None = None,
    end: date | None = None,
    timezone_override: Mapping[str, str] | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> RollupSummary:
    """Recompute the local days [start, end) of one gateway (name or serial) or of all.

    ``start`` defaults to the local day of the gateway's first reading, ``end`` to
    the day after its last reading. ``timezone_override`` maps a gateway name or
    serial to an IANA zone that wins over the gateway's own ``/home`` zone. Days
    that no reading touches get no rows.
    """
    rows = _select(store, gateway)
    plans = []
    for row in rows:
        zone, warnings = _zone(row, timezone_override)
        span = sql.reading_span(store, row.id)
        tz = ZoneInfo(zone)
        if span is None and (start is None or end is None):
            continue
        first = start if start is not None else span[0].astimezone(tz).date()  # type: ignore[index]
        last = end if end is not None else span[1].astimezone(tz).date() + timedelta(days=1)  # type: ignore[index]
        if first < last:
            plans.append(_Plan(row, zone, first, last, warnings))
    return _run(store, plans, now, progress)


def rollup_recent(
    store: Store,
    now: datetime,
    *,
    days: int = 2,
    since: Mapping[str, datetime] | None = None,
    timezone_override: Mapping[str, str] | None = None,
    gateways: Sequence[sql.GatewayRow] | None = None,
) -> RollupSummary:
    """Recompute the last ``days`` local days up to ``now``, from earlier where new data lies.

    ``since`` maps a gateway serial to the earliest instant of newly stored
    polls (late, replayed ones included); only those gateways are recomputed.
    Without it, every gateway is. ``gateways`` spares listing them again when the
    caller already has (store_gateways).
    """
    plans = []
    for row in store_gateways(store) if gateways is None else gateways:
        if since is not None and row.serial not in since:
            continue
        zone, warnings = _zone(row, timezone_override)
        tz = ZoneInfo(zone)
        last = now.astimezone(tz).date()
        first = last - timedelta(days=days - 1)
        if since is not None:
            first = min(first, since[row.serial].astimezone(tz).date())
            span = sql.poll_span(store, row.id)
            if span is not None:  # as rollup(): no days before the gateway's first poll
                first = max(first, min(span[0].astimezone(tz).date(), last))
        plans.append(_Plan(row, zone, first, last + timedelta(days=1), warnings))
    return _run(store, plans, now, None)


def catch_up(
    store: Store,
    gateways: Sequence[sql.GatewayRow],
    *,
    end: date | None = None,
    timezone_override: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> RollupSummary:
    """Bring the energy of the given gateways up to their last poll, up to local date ``end``.

    A gateway never rolled up is rolled up whole; one with polls newer than its last
    computation is recomputed from a day before that computation (an inverter's first
    report of a morning reaches back to the evening before), as the service does each
    hour. Readings stored since with older instants (a replayed spool) are the
    service's to roll up. Polls from cron followed by an export therefore just work.
    """
    done: list[GatewayRollup] = []
    for row in gateways:
        last_poll, computed = sql.energy_state(store, row.id)
        if last_poll is None or (computed is not None and computed >= last_poll):
            continue
        if computed is None:
            done.extend(
                rollup(
                    store,
                    gateway=row.serial,
                    timezone_override=timezone_override,
                    now=last_poll,
                    progress=progress,
                ).gateways
            )
            continue
        since = computed - timedelta(days=1)
        zone = ZoneInfo(gateway_zone(row, timezone_override))
        if end is not None and end < since.astimezone(zone).date():
            continue  # the days asked for are not among those that changed
        done.extend(
            rollup_recent(
                store,
                last_poll,
                days=1,
                since={row.serial: since},
                timezone_override=timezone_override,
                gateways=[row],
            ).gateways
        )
    return RollupSummary(tuple(done))


def day_so_far(
    store: Store,
    row: sql.GatewayRow,
    now: datetime,
    timezone_override: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """The figures of the gateway's local day holding ``now``, computed as the rollup would
    but not stored (``envoylog now``); None when no reading touches the day yet."""
    zone = gateway_zone(row, timezone_override)
    day = now.astimezone(ZoneInfo(zone)).date()
    lo, hi = local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone)
    with store.reading("computing today's energy") as conn:
        choices, meter_of = _choose(
            sql.growth(conn, row.id, lo, hi),
            sql.meter_rows(conn, row.id),
            battery_power=battery_sql.power_readings(conn, row.id, lo, hi) > 0,
        )
        window = load_window(conn, row.id, choices, meter_of, lo, hi, inverters=False)
    rows = gateway_rows(
        window, choices, zone=zone, resolution=Resolution.DAY, lo=lo, hi=hi, computed_at=now
    )
    return rows[0] if rows else None


def store_gateways(store: Store) -> list[sql.GatewayRow]:
    """Every gateway in the database."""
    return sql.list_gateways(store)


def _select(store: Store, gateway: str | None) -> list[sql.GatewayRow]:
    return sql.select_gateways(store, [gateway] if gateway else [])


def gateway_zone(row: sql.GatewayRow, override: Mapping[str, str] | None = None) -> str:
    """The zone a gateway's local days are cut in: the config's, its /home one, else UTC."""
    return _zone(row, override)[0]


def _zone(row: sql.GatewayRow, override: Mapping[str, str] | None) -> tuple[str, tuple[str, ...]]:
    """Config override > the gateway's /home zone > UTC (with a warning)."""
    override = override or {}
    for name in (override.get(row.serial), override.get(row.name or ""), row.timezone):
        if not name:
            continue
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("unknown_timezone gateway=%s timezone=%s", row.serial, name)
            continue
        return name, ()
    text = f"gateway {row.serial}: no known timezone; local days are UTC days"
    log.warning("rollup_timezone_utc gateway=%s", row.serial)
    return "UTC", (text,)


def _run(
    store: Store, plans: list[_Plan], now: datetime | None, progress: Progress | None
) -> RollupSummary:
    computed_at = (now or datetime.now(UTC)).astimezone(UTC)
    total = sum((p.end - p.first).days for p in plans)
    done = 0
    results = []
    for plan in plans:

        def step(days: int) -> None:
            nonlocal done
            done += days
            if progress is not None:
                progress(done, total)

        results.append(_gateway(store, plan, computed_at, step))
    return RollupSummary(tuple(results))


def _gateway(
    store: Store, plan: _Plan, computed_at: datetime, step: Callable[[int], None]
) -> GatewayRollup:
    row, zone = plan.gateway, plan.zone
    lo, hi = local_midnight(plan.first, zone), local_midnight(plan.end, zone)
    with store.reading("choosing energy sources") as conn:
        meters = sql.meter_rows(conn, row.id)
        grown = sql.growth(conn, row.id, lo, hi)
        battery_power = battery_sql.power_readings(conn, row.id, lo, hi) > 0
    choices, meter_of = _choose(grown, meters, battery_power=battery_power)
    corrections = 0
    cursor = plan.first
    while cursor < plan.end:
        following = min((cursor.replace(day=1) + timedelta(days=32)).replace(day=1), plan.end)
        c_lo, c_hi = local_midnight(cursor, zone), local_midnight(following, zone)
        with store.reading("reading counters for the energy rollup") as conn:
            window = load_window(conn, row.id, choices, meter_of, c_lo, c_hi)
        hourly, daily = (
            gateway_rows(
                window, choices, zone=zone, resolution=r, lo=c_lo, hi=c_hi, computed_at=computed_at
            )
            for r in (Resolution.HOUR, Resolution.DAY)
        )
        events = _events(window, c_lo, c_hi)
        corrections += len(events)
        sql.replace_days(
            store,
            row.id,
            lo=c_lo,
            hi=c_hi,
            first_day=cursor,
            end_day=following,
            hourly=hourly,
            daily=daily,
            inverter_rows=inverter_rows(
                window, zone=zone, lo=c_lo, hi=c_hi, computed_at=computed_at
            ),
            events=events,
        )
        step((following - cursor).days)
        cursor = following
    first_month = plan.first.replace(day=1)
    end_month = ((plan.end - timedelta(days=1)).replace(day=1) + timedelta(days=32)).replace(day=1)
    days = sql.daily_rows(store, row.id, first_month, end_month)
    sql.replace_months(store, row.id, first_month, end_month, month_rows(days, zone, computed_at))
    log.info(
        "rollup gateway=%s from=%s to=%s corrections=%d",
        row.serial,
        plan.first,
        plan.end,
        corrections,
    )
    return GatewayRollup(
        serial=row.serial,
        name=row.name,
        timezone=zone,
        first_day=plan.first,
        end_day=plan.end,
        sources=source_columns(choices),
        reasons={str(f): c.reason for f, c in choices.items()},
        corrections=corrections,
        warnings=plan.warnings,
    )


def _choose(
    grown: Mapping[tuple[str, str], tuple[int, float]],
    meters: list[sql.MeterRow],
    *,
    battery_power: bool = False,
) -> tuple[dict[Flow, FlowChoice], dict[CounterSource, int]]:
    """Candidate sources with trusted readings in the range, and the choice among them."""
    growth: dict[CounterSource, float] = {}
    meter_of: dict[CounterSource, int] = {}
    best: dict[CounterSource, int] = {}
    for meter in meters:
        pair = meter_sources(meter.config.measurement_type)
        for source, column in zip(pair, ("delivered", "received"), strict=True):
            count, wh = grown.get((f"meter:{meter.id}", column), (0, 0.0))
            # Two meters of one type (a replaced CT): the one with most readings, never both.
            if source is None or count == 0 or count <= best.get(source, 0):
                continue
            best[source], growth[source], meter_of[source] = count, wh, meter.id
    for (table, measurement), (count, wh) in grown.items():
        if not table.startswith("system:") or count == 0:
            continue
        try:
            source = system_counter(Source(table.removeprefix("system:")), Measurement(measurement))
        except ValueError:
            continue
        growth[source] = wh
    if ("inverters", "lifetime") in grown:
        growth[CounterSource.INVERTER_LIFETIMES] = grown[("inverters", "lifetime")][1]
    configs = [m.config for m in meters] or None
    return choose_flows(growth, meters=configs, battery_power=battery_power), meter_of


def _events(window: Window, lo: datetime, hi: datetime) -> list[sql.EventRow]:
    """The window's corrections inside [lo, hi), once each, in time order."""
    runs = [*window.runs.values(), *([window.standby] if window.standby else [])]
    found = {
        (c.at, c.event_kind, c.detail) for run in runs for c in run.corrections if lo <= c.at < hi
    }
    found |= {
        (c.at, c.event_kind, c.detail)
        for day in window.inverters.values()
        for c in day.result.corrections
        if lo <= c.at < hi
    }
    return [sql.EventRow(at, kind, detail) for at, kind, detail in sorted(found)]
