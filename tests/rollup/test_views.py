"""The SQL views: readings in the gateway's local time, right across DST, on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from builders import SERIAL, log_ct
from sqlalchemy import text

from envoylog.db import Store
from envoylog.energy import day_range
from envoylog.energy.rollup import rollup

ZONE = "Europe/Berlin"
FALL_BACK = date(2024, 10, 27)  # 02:00-03:00 local twice: CEST, then CET


def local_times(store: Store, view: str, instant: str, where: str = "") -> dict[str, str]:
    sql = f"SELECT {instant}, local_time FROM {view} {where} ORDER BY {instant}"
    with store.reading("test") as conn:
        return {
            f"{at.astimezone(UTC):%m-%d %H:%M}" if isinstance(at, datetime) else at[5:16]: str(
                local
            )
            for at, local in conn.execute(text(sql))
        }


def test_readings_carry_the_local_time_of_their_rolled_up_hour(store: Store) -> None:
    begin, end = day_range(FALL_BACK, FALL_BACK, ZONE)
    log_ct(store, ZONE, begin, end, step_min=30)
    rollup(store)

    local = local_times(
        store, "meter_readings_local", "measured_at", "WHERE channel = 0 AND meter_eid = 704643328"
    )

    assert local["10-26 22:00"] == "2024-10-27 00:00:00"  # 26 October 22:00 UTC: local midnight
    assert local["10-27 00:30"] == "2024-10-27 02:30:00"  # CEST
    assert local["10-27 01:30"] == "2024-10-27 02:30:00"  # the same wall clock an hour later, CET
    assert local["10-27 02:30"] == "2024-10-27 03:30:00"
    assert local["10-27 23:00"] == "2024-10-28 00:00:00"  # the last reading, on the next midnight


def test_readings_of_hours_not_rolled_up_have_no_local_time_yet(store: Store) -> None:
    begin, end = day_range(FALL_BACK, FALL_BACK, ZONE)
    log_ct(store, ZONE, begin, end, step_min=60)

    local = local_times(store, "meter_readings_local", "measured_at", "WHERE channel = 0")

    assert set(local.values()) == {"None"}


def test_latest_power_and_inverter_days_name_the_gateway(store: Store) -> None:
    begin, end = day_range(FALL_BACK, FALL_BACK, ZONE)
    log_ct(store, ZONE, begin, end - timedelta(hours=1), production_w=900)
    rollup(store)

    with store.reading("test") as conn:
        power = conn.execute(
            text(
                "SELECT gateway_name, gateway_serial, measurement, source, watts "
                "FROM latest_power ORDER BY measurement"
            )
        ).all()
    assert [tuple(r) for r in power] == [
        ("roof", SERIAL, "net-consumption", "ct", 0.0),
        ("roof", SERIAL, "production", "ct", 900.0),
    ]
