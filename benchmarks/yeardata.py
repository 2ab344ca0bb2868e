"""Generate a year of polls of a three-phase, 36-inverter site, fast, as PollResult records.

One real poll of sample_data/metered-three-phase-device-data (replayed and parsed by
envoylog) is the template: the records keep its sources, meter ids, serials and
fields; only instants, powers and counters change. Cadences are the service's:
production.json and meter readings every minute, device_data every 5 minutes,
/info and /ivp/meters hourly, /home daily. Raw bodies are left out (they are
pruned after raw_body_days anyway). Power follows a clear-sky curve scaled by
season and a per-day cloud factor; the counters integrate it exactly, so daily
energy is known.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from envoylog.records import (
    EndpointResult,
    InverterReading,
    Measurement,
    MeterReading,
    PollResult,
    Source,
    SystemReading,
)

SITE = "metered-three-phase-device-data"
PEAK_W = 12000.0


def template() -> PollResult:
    """One complete poll of the sample site, fetched and parsed by envoylog."""
    import time

    from benchmarks.common import SAMPLES
    from envoylog.client import Credentials, GatewayClient
    from envoylog.poller import GatewayState, poll_once
    from envoylog.simulator import ReplayServer, make_token

    token = make_token("year", expires_at=time.time() + 365 * 86400)
    from support import fetched_at

    recorded = fetched_at(SAMPLES / SITE)  # then its instants are no gateway clock far off
    with ReplayServer(SAMPLES / SITE, tls=True) as server:
        server.start()
        with GatewayClient(server.url, credentials=Credentials(token=token)) as client:
            return poll_once(client, GatewayState(host=server.url), clock=lambda: recorded)


def _solar(t: datetime, clouds: float) -> float:
    day = t.timetuple().tm_yday
    summer = math.cos(2 * math.pi * (day - 172) / 365)  # 1 at midsummer, -1 at midwinter
    season = 0.6 + 0.4 * summer
    half = 6.0 + 2.2 * summer  # half the day length, h: 3.8 (winter) to 8.2 (summer)
    hour = t.hour + t.minute / 60 - 12.0  # solar noon ~ 12:00 UTC+0 for simplicity
    if abs(hour) >= half:
        return 0.0
    return PEAK_W * season * clouds * math.cos(math.pi / 2 * hour / half)


def _load(t: datetime) -> float:
    hour = t.hour + t.minute / 60
    return 450.0 + 1800.0 * math.exp(-(((hour - 19.0) / 2.0) ** 2)) + 900.0 * (7 <= hour < 8)


class YearGenerator:
    """Polls minute by minute from ``start`` for ``days`` days."""

    def __init__(self, start: datetime, days: int, seed: int = 7) -> None:
        self.tpl = template()
        self.start = start.astimezone(UTC)
        self.days = days
        self.rng = random.Random(seed)
        by = {e.endpoint: e for e in self.tpl.endpoints}
        self.by = by
        meters = {r.eid: r.measurement_type for r in by["meters"].records}  # type: ignore[union-attr]
        self.kind = meters
        self.sys_tpl = list(by["production_json"].records)
        self.meter_tpl = list(by["meter_readings"].records)
        self.inv_tpl = [r for r in by["device_data"].records if isinstance(r, InverterReading)]
        self.inv_share = [0.9 + 0.2 * self.rng.random() for _ in self.inv_tpl]
        total = sum(self.inv_share)
        self.inv_share = [s / total for s in self.inv_share]
        self.wh = {"prod": 1.0e7, "inv": 1.01e7, "cons": 1.2e7, "imp": 5.0e6, "exp": 4.0e6}
        self.inv_wh = [4.0e5 for _ in self.inv_tpl]
        self.last_inv_w = [0.0 for _ in self.inv_tpl]

    def _ep(self, name: str, at: datetime, records: tuple[Any, ...]) -> EndpointResult:
        base = self.by[name]
        return EndpointResult(
            endpoint=name,
            path=base.path,
            fetched_at=at,
            duration_ms=40,
            http_status=200,
            records=records,
            content_type=base.content_type,
        )

    def _system(self, at: datetime, prod: float, cons: float) -> tuple[SystemReading, ...]:
        net = cons - prod
        wh = self.wh
        values = {
            (Source.INVERTERS, Measurement.PRODUCTION): (prod, wh["inv"]),
            (Source.EIM, Measurement.PRODUCTION): (prod, wh["prod"]),
            (Source.EIM, Measurement.TOTAL_CONSUMPTION): (cons, wh["cons"]),
            (Source.EIM, Measurement.NET_CONSUMPTION): (net, wh["imp"] - wh["exp"]),
        }
        out = []
        for r in self.sys_tpl:
            assert isinstance(r, SystemReading)
            watts, lifetime = values.get((r.source, r.measurement), (r.watts, r.wh_lifetime))
            phases = tuple(
                replace(p, watts=watts / 3, wh_lifetime=lifetime / 3 if lifetime else None)
                for p in r.phases
            )
            out.append(replace(r, measured_at=at, watts=watts, wh_lifetime=lifetime, phases=phases))
        return tuple(out)

    def _meters(self, at: datetime, prod: float, net: float) -> tuple[MeterReading, ...]:
        wh = self.wh
        out = []
        for r in self.meter_tpl:
            assert isinstance(r, MeterReading)
            share = 1.0 if r.channel == 0 else 1 / 3
            if self.kind.get(r.eid) == "production":
                vals = (prod * share, wh["prod"] * share, 0.0)
            else:
                vals = (net * share, wh["imp"] * share, wh["exp"] * share)
            out.append(
                replace(r, measured_at=at, watts=vals[0], wh_delivered=vals[1], wh_received=vals[2])
            )
        return tuple(out)

    def _inverters(self, at: datetime) -> tuple[Any, ...]:
        out: list[Any] = [
            r for r in self.by["device_data"].records if not isinstance(r, InverterReading)
        ]
        for i, r in enumerate(self.inv_tpl):
            out.append(
                replace(
                    r,
                    reported_at=at,
                    watts=self.last_inv_w[i],
                    wh_lifetime=self.inv_wh[i],
                    interval_s=300.0,
                    wh_interval=self.last_inv_w[i] * 300 / 3600,
                )
            )
        return tuple(out)

    def __iter__(self) -> Iterator[PollResult]:
        minutes = self.days * 1440
        clouds = 1.0
        inv_acc = [0.0 for _ in self.inv_tpl]
        for m in range(minutes + 1):
            at = self.start + timedelta(minutes=m)
            if m % 1440 == 0:
                clouds = 0.25 + 0.75 * self.rng.random()
            prod = _solar(at, clouds)
            cons = _load(at)
            net = cons - prod
            # Integrate the minute that ended now (counters are read at its end).
            self.wh["prod"] += prod / 60
            self.wh["inv"] += prod / 60 * 1.01
            self.wh["cons"] += cons / 60
            self.wh["imp"] += max(net, 0.0) / 60
            self.wh["exp"] += max(-net, 0.0) / 60
            for i, share in enumerate(self.inv_share):
                inv_acc[i] += prod * 1.01 * share / 60
            endpoints = [
                self._ep("production_json", at, self._system(at, prod, cons)),
                self._ep("meter_readings", at, self._meters(at, prod, net)),
            ]
            if m % 5 == 0:
                for i in range(len(self.inv_wh)):
                    self.inv_wh[i] += inv_acc[i]
                    self.last_inv_w[i] = inv_acc[i] * 12
                    inv_acc[i] = 0.0
                endpoints.append(self._ep("device_data", at, self._inverters(at)))
            if m % 60 == 0:
                endpoints.insert(0, self._ep("meters", at, self.by["meters"].records))
                endpoints.insert(0, self._ep("info", at, self.by["info"].records))
            if m % 1440 == 0:
                endpoints.insert(1, self._ep("home", at, self.by["home"].records))
            yield PollResult(
                gateway=self.tpl.gateway,
                started_at=at,
                finished_at=at + timedelta(seconds=1),
                endpoints=tuple(endpoints),
            )
