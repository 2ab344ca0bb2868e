"""Six days of the three-phase, 36-inverter site with the faults compaction must keep:
an inverter counter wrap, restart zeros (glitches), a CT counter reset, a gap across
local midnight and the spring-forward day (Europe/Berlin, 2024-03-31).

The polls come from benchmarks/yeardata.py (minute readings, 5-minute inverter
reports, exact counters); the faults are made on its records before they are stored.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[2]))  # benchmarks/
from benchmarks.yeardata import YearGenerator
from envoylog.db import Store, save_polls
from envoylog.energy import WRAP_WH
from envoylog.records import InverterReading, Measurement, MeterReading, PollResult, SystemReading

START = datetime(2024, 3, 28, tzinfo=UTC)
DAYS = 6
FIRST_DAY, END_DAY = date(2024, 3, 28), date(2024, 4, 3)  # local days wholly logged
WRAP_AT = datetime(2024, 3, 29, 12, 0, tzinfo=UTC)  # inverter 0's joule counter wraps
ZEROS = (datetime(2024, 3, 30, 10, 0, tzinfo=UTC), datetime(2024, 3, 30, 10, 3, tzinfo=UTC))
RESET_AT = datetime(2024, 4, 1, 14, 0, tzinfo=UTC)  # the net CT's counters restart from 0
GAP = (datetime(2024, 3, 29, 21, 30, tzinfo=UTC), datetime(2024, 3, 30, 0, 40, tzinfo=UTC))


def polls(days: int = DAYS) -> Iterator[PollResult]:
    """The polls, faults made."""
    generator = YearGenerator(START, days)
    first = generator.inv_tpl[0].serial
    # Inverter 0 counts from WRAP_WH up (its counter starts at 4e5 Wh) and wraps at WRAP_AT.
    offset = WRAP_WH - 4.0e5
    reset: dict[tuple[int, int], tuple[float, float]] = {}
    for poll in generator:
        if GAP[0] <= poll.started_at < GAP[1]:
            continue
        at = poll.started_at
        endpoints = []
        for endpoint in poll.endpoints:
            records = tuple(_fault(r, at, first, offset, reset) for r in endpoint.records)
            endpoints.append(replace(endpoint, records=records))
        yield replace(poll, endpoints=tuple(endpoints))


def _fault(
    record: Any, at: datetime, first: str, offset: float, reset: dict[Any, tuple[float, float]]
) -> Any:
    if isinstance(record, InverterReading) and record.serial == first and record.wh_lifetime:
        wrapped = record.wh_lifetime + offset - (WRAP_WH if at >= WRAP_AT else 0.0)
        return replace(record, wh_lifetime=wrapped)
    zeros = ZEROS[0] <= at <= ZEROS[1]
    if isinstance(record, MeterReading):
        if zeros and record.channel == 0 and record.wh_received == 0.0:  # the production CT
            return replace(record, wh_delivered=0.0)
        if at >= RESET_AT and record.wh_received:  # the net CT, every channel
            key = (record.eid, record.channel)
            base = reset.setdefault(key, (record.wh_delivered or 0.0, record.wh_received))
            return replace(
                record,
                wh_delivered=(record.wh_delivered or 0.0) - base[0] + 1.0,
                wh_received=record.wh_received - base[1] + 1.0,
            )
    if isinstance(record, SystemReading) and zeros and record.measurement is Measurement.PRODUCTION:
        return replace(record, wh_lifetime=0.0)
    return record


def fill(store: Store, days: int = DAYS) -> None:
    """Store the week's polls."""
    batch: list[PollResult] = []
    for poll in polls(days):
        batch.append(poll)
        if len(batch) == 500:
            save_polls(store, batch)
            batch = []
    if batch:
        save_polls(store, batch)


def local_days(first: date = FIRST_DAY, end: date = END_DAY) -> list[date]:
    return [first + timedelta(days=n) for n in range((end - first).days)]
