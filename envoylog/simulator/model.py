"""The physics behind every endpoint: sun, clouds, household, batteries, and their counters.

``SiteModel`` integrates power over fixed one-minute steps, lazily, up to whatever
instant is asked for (an idle server catches up a simulated day in a fraction of a
second). Power is constant within a step, so counters at any instant are exact, and
the CT counters and the truth ledger grow from the very same numbers. ``site_at(t)``
turns the state into a ``Site`` that ``render_all`` serves.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from envoylog.simulator.profiles import (
    Profile,
    battery,
    inverter,
    iq_battery,
    site,
    start_wh,
    with_removed,
)
from envoylog.simulator.site import AcBattery, Ct, CtPhase, IqBattery, Microinverter, Site
from envoylog.simulator.sun import clear_sky_irradiance, cloud_factor, noise, smooth_noise
from envoylog.simulator.truth import FLOWS, Totals, TruthLedger, report

STEP_S = 60
STEP_H = STEP_S / 3600
DETAIL_S = 6 * 3600  # truth kept step by step for this long; hourly for ever
# Run this long before the requested start, so inverters have reported by then.
WARMUP_S = 3600
# Counters kept per phase, in Wh; FLOWS (the truth) sums them over phases in this order.
PV_D, PV_R, IMP, EXP, LOAD, CHG, DIS = range(len(FLOWS))
STANDBY_W_PER_INVERTER = 0.25
INVERTER_EFFICIENCY = 0.965
BATTERY_EFFICIENCY = 0.95
BATTERY_THRESHOLD_W = 40.0
IQ_REPORT_S = 300  # an IQ Battery reports to the gateway every 5 minutes (staggered)


@dataclass(slots=True)
class _Reports:
    """What each microinverter last reported (lists indexed by inverter)."""

    interval_s: list[int]
    next_at: list[int]
    last_at: list[int]
    last_joules: list[float]
    watts: list[int]
    dc_voltage_mv: list[int]
    dc_current_ma: list[int]
    ac_voltage_mv: list[int]
    temperature_c: list[int]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    day: int  # local day number
    counters: tuple[tuple[float, ...], ...]
    joules: tuple[float, ...]


class SiteModel:
    """One simulated site over time; deterministic for a profile, origin and seed."""

    def __init__(
        self,
        profile: Profile,
        *,
        origin: float,
        seed: int = 1,
        resets: Sequence[float] = (),
        detail_s: int = DETAIL_S,
    ) -> None:
        self.profile = profile
        self.seed = seed
        self.zone = ZoneInfo(profile.timezone)
        self._offset_bucket = -1
        self._offset_value = 0.0
        self.start = origin
        self.origin = float(math.floor(origin / STEP_S) * STEP_S) - WARMUP_S
        self._lock = threading.RLock()
        self._resets = sorted(resets)
        self._t = self.origin
        phases = profile.phase_count
        self._phase_of = [i % phases for i in range(profile.inverters)]
        self._inverter_lines = profile.inverter_voltage_v / profile.voltage_v
        self._panel_w = [
            profile.inverter_max_watts * (1.05 + 0.2 * noise(seed, 1, i))
            for i in range(profile.inverters)
        ]
        self._counters = [self._start_counters(p) for p in range(phases)]
        self._joules = [self._start_joules(i) for i in range(profile.inverters)]
        self._reports = self._start_reports()
        self._capacity_wh = float(profile.battery_capacity_wh * profile.batteries)
        self._reserve_wh = self._capacity_wh * profile.battery_reserve_pct / 100
        self._stored_wh = 0.5 * self._capacity_wh
        # Stored energy at the last step boundaries: what an IQ Battery's last report said.
        self._stored_history: deque[tuple[float, float]] = deque(maxlen=IQ_REPORT_S // STEP_S + 2)
        self._totals = [0.0] * len(FLOWS)
        self._counter_offsets: list[list[float]] | None = None
        self._joule_offsets: list[float] | None = None
        self._snapshots: deque[_Snapshot] = deque(maxlen=8)
        self._snapshots.append(self._snapshot(self.origin))
        self.ledger = TruthLedger(
            self.origin,
            profile.timezone,
            step_s=STEP_S,
            detail_s=detail_s,
            origin_is_hour_start=self._is_hour_start(self.origin),
        )
        self._rates = self._step_rates(self._t)
        self.advance(origin)

    # -- start values ------------------------------------------------------------------

    def _start_counters(self, phase: int) -> list[float]:
        p = self.profile
        share = 1 / p.phase_count
        start = [0.0] * len(FLOWS)
        start[PV_D] = p.production_start_wh * share * (1 + 0.004 * phase)
        start[PV_R] = p.production_start_wh * 0.0012 * share
        start[IMP] = p.import_start_wh * share * (1 - 0.003 * phase)
        start[EXP] = p.export_start_wh * share
        start[LOAD] = (p.production_start_wh + p.import_start_wh - p.export_start_wh) * share
        start[DIS] = p.battery_start_wh if phase == 0 else 0.0
        start[CHG] = p.battery_start_wh * 1.11 if phase == 0 else 0.0
        return start

    def _start_joules(self, index: int) -> float:
        wh = start_wh(self.profile, index)
        if index == 3:
            # This one is a sunny day short of its 32-bit joule counter wrapping.
            wh = 2**32 / 3600 - self.profile.inverter_max_watts * 4
        return wh * 3600 + index * 997

    def _start_reports(self) -> _Reports:
        p = self.profile
        count = p.inverters
        base = p.report_interval_s
        # Staggered: each inverter keeps its own interval (240-330 s on 7.x) and phase.
        intervals = [base - 60 + int(90 * noise(self.seed, 2, i)) for i in range(count)]
        phase = [int(intervals[i] * noise(self.seed, 3, i)) for i in range(count)]
        t0 = int(self.origin)
        next_at = [t0 + (phase[i] - t0) % intervals[i] for i in range(count)]
        last_at = [next_at[i] - intervals[i] for i in range(count)]
        volts = round(p.inverter_voltage_v * 1000)
        return _Reports(
            interval_s=intervals,
            next_at=next_at,
            last_at=last_at,
            last_joules=list(self._joules),
            watts=[0] * count,
            dc_voltage_mv=[0] * count,
            dc_current_ma=[0] * count,
            ac_voltage_mv=[volts] * count,
            temperature_c=[15] * count,
        )

    # -- the weather and the household -------------------------------------------------

    def _offset_s(self, t: float) -> float:
        # Offsets change only on quarter hours; one lookup per quarter hour is plenty.
        bucket = math.floor(t / 900)
        if bucket != self._offset_bucket:
            offset = datetime.fromtimestamp(bucket * 900, UTC).astimezone(self.zone).utcoffset()
            self._offset_bucket = bucket
            self._offset_value = offset.total_seconds() if offset is not None else 0.0
        return self._offset_value

    def _is_hour_start(self, t: float) -> bool:
        return (t + self._offset_s(t)) % 3600 == 0

    def irradiance(self, t: float) -> float:
        """Irradiance on the panels at ``t`` (W/m2), clouds included."""
        clear = clear_sky_irradiance(t, self.profile.latitude, self.profile.longitude)
        return clear * cloud_factor(self.seed, t) if clear else 0.0

    def _cell_temperature(self, t: float, irradiance: float) -> float:
        local_h = ((t + self._offset_s(t)) % 86400) / 3600
        seasonal = 8 * math.cos(2 * math.pi * (t / 86400 / 365.2422 - 0.55))
        if self.profile.latitude < 0:
            seasonal = -seasonal
        ambient = 12 + seasonal + 5 * math.sin(2 * math.pi * (local_h - 9) / 24)
        return ambient + irradiance * 0.03

    def _load_w(self, t: float, phase: int) -> float:
        p = self.profile
        local_h = ((t + self._offset_s(t)) % 86400) / 3600
        shape = (
            0.8
            + 1.3 * math.exp(-(((local_h - 7.5) / 1.1) ** 2))
            + 2.2 * math.exp(-(((local_h - 19.0) / 2.0) ** 2))
        )
        wobble = 0.75 + 0.5 * smooth_noise(self.seed, 20 + phase, t, 300)
        slot = math.floor(t / 900)
        appliance = 1800.0 if noise(self.seed, 30 + phase, slot) < 0.06 else 0.0
        return (p.base_load_w * shape * wobble + appliance) / p.phase_count

    def voltage(self, t: float, phase: int) -> float:
        swing = 0.012 * math.sin(2 * math.pi * t / 28800 + phase)
        jitter = 0.006 * (smooth_noise(self.seed, 40 + phase, t, 120) - 0.5)
        return self.profile.voltage_v * (1 + swing + jitter + 0.003 * phase)

    def frequency(self, t: float) -> float:
        return self.profile.frequency_hz + 0.04 * (smooth_noise(self.seed, 50, t, 60) - 0.5)

    # -- integration -------------------------------------------------------------------

    def _inverter_watts(self, t: float) -> list[float]:
        irradiance = self.irradiance(t)
        if irradiance <= 0:
            return [0.0] * self.profile.inverters
        derate = 1 - 0.004 * (self._cell_temperature(t, irradiance) - 25)
        cap = self.profile.inverter_max_watts
        dc_per_w = irradiance / 1000 * derate * INVERTER_EFFICIENCY
        return [min(cap, panel * dc_per_w) for panel in self._panel_w]

    def _step_rates(self, t: float) -> list[list[float]]:
        """Power (W) into each counter of each phase during the step starting at ``t``."""
        p = self.profile
        self._watts = self._inverter_watts(t)
        rates = [[0.0] * len(FLOWS) for _ in range(p.phase_count)]
        for index, watts in enumerate(self._watts):
            row = rates[self._phase_of[index]]
            row[PV_D] += watts
            if watts <= 0:
                row[PV_R] += STANDBY_W_PER_INVERTER
        for phase, row in enumerate(rates):
            row[LOAD] = self._load_w(t, phase)
        if p.batteries:
            surplus = sum(row[PV_D] - row[PV_R] - row[LOAD] for row in rates)
            limit = p.battery_max_watts * p.batteries
            room = self._capacity_wh - self._stored_wh
            above_reserve = max(self._stored_wh - self._reserve_wh, 0.0)
            if surplus > BATTERY_THRESHOLD_W:
                rates[0][CHG] = min(surplus, limit, room / BATTERY_EFFICIENCY / STEP_H)
            elif surplus < -BATTERY_THRESHOLD_W:
                rates[0][DIS] = min(-surplus, limit, above_reserve * BATTERY_EFFICIENCY / STEP_H)
        for row in rates:
            grid = row[LOAD] + row[PV_R] + row[CHG] - row[PV_D] - row[DIS]
            row[IMP] = max(grid, 0.0)
            row[EXP] = max(-grid, 0.0)
        return rates

    def advance(self, t: float) -> None:
        """Integrate up to the last step boundary at or before ``t``."""
        with self._lock:
            while self._t + STEP_S <= t:
                self._integrate_step()

    def _integrate_step(self) -> None:
        start, end = self._t, self._t + STEP_S
        for phase, row in enumerate(self._rates):
            counters = self._counters[phase]
            for index, rate in enumerate(row):
                counters[index] += rate * STEP_H
                self._totals[index] += rate * STEP_H
        self._stored_wh += (
            self._rates[0][CHG] * BATTERY_EFFICIENCY - self._rates[0][DIS] / BATTERY_EFFICIENCY
        ) * STEP_H
        self._stored_wh = min(max(self._stored_wh, 0.0), self._capacity_wh)
        self._stored_history.append((end, self._stored_wh))
        reports = self._reports
        for index, watts in enumerate(self._watts):
            before = self._joules[index]
            self._joules[index] = before + watts * STEP_S
            due = reports.next_at[index]
            if due <= end:
                self._report(index, due, before + watts * (due - start))
                reports.next_at[index] = due + reports.interval_s[index]
        for reset in self._resets:
            if start < reset <= end:
                self._counter_offsets = [list(c) for c in self._counters]
                self._joule_offsets = list(reports.last_joules)
        self._t = end
        self.ledger.record(end, tuple(self._totals), hour_start=self._is_hour_start(end))
        day = self._local_day(end)
        if day != self._snapshots[-1].day:
            self._snapshots.append(self._snapshot(end))
        self._rates = self._step_rates(end)

    def _report(self, index: int, at: int, joules: float) -> None:
        reports = self._reports
        energy = joules - reports.last_joules[index]
        if energy <= 0:  # an inverter without sun does not report
            return
        interval = reports.interval_s[index]
        watts = round(energy / interval)
        irradiance = self.irradiance(at)
        temperature = self._cell_temperature(at, irradiance)
        dc_mv = round(29_000 + 6_000 * min(irradiance / 1000, 1.0) - 90 * (temperature - 25))
        reports.last_at[index] = at
        reports.last_joules[index] = joules
        reports.watts[index] = watts
        reports.dc_voltage_mv[index] = dc_mv
        reports.dc_current_ma[index] = round(watts / INVERTER_EFFICIENCY * 1_000_000 / dc_mv)
        # On split phase an inverter sits across both lines: twice the line's voltage.
        line_v = self.voltage(at, self._phase_of[index])
        reports.ac_voltage_mv[index] = round(line_v * self._inverter_lines * 1000)
        reports.temperature_c[index] = round(temperature + 8)

    def _local_day(self, t: float) -> int:
        return math.floor((t + self._offset_s(t)) / 86400)

    def _snapshot(self, t: float) -> _Snapshot:
        return _Snapshot(
            self._local_day(t),
            tuple(tuple(c) for c in self._counters),
            tuple(self._reports.last_joules if hasattr(self, "_reports") else self._joules),
        )

    # -- reading the state -------------------------------------------------------------

    def now_counters(self, t: float) -> list[list[float]]:
        """Every phase's counters (Wh) at ``t``, before any counter reset is applied."""
        with self._lock:
            self.advance(t)
            hours = max(t - self._t, 0.0) / 3600
            return [
                [value + rate * hours for value, rate in zip(c, r, strict=True)]
                for c, r in zip(self._counters, self._rates, strict=True)
            ]

    def cumulative(self, t: float) -> Totals:
        """Truth totals per flow from the origin to ``t``."""
        with self._lock:
            self.advance(t)
            rates = tuple(sum(row[i] for row in self._rates) for i in range(len(FLOWS)))
            return self.ledger.cumulative(t, self._t, tuple(self._totals), rates)

    def truth(self, start: float, end: float) -> dict[str, float]:
        """Energy per flow (Wh) between two instants."""
        before, after = self.cumulative(start), self.cumulative(end)
        return {flow: after[i] - before[i] for i, flow in enumerate(FLOWS)}

    def truth_report(self, start: float, end: float) -> dict[str, object]:
        """The truth between two instants with its local hours and days (JSON-ready)."""
        with self._lock:
            self.advance(end)
            return report(self.ledger, self.cumulative, start, end)

    def site_at(self, t: float, *, firmware: str | None = None) -> Site:
        """The site as its gateway sees it at ``t`` (a counter reset applied)."""
        with self._lock:
            counters = self.now_counters(t)
            rates = self._rates
            if self._counter_offsets is not None:
                counters = [
                    [v - o for v, o in zip(c, off, strict=True)]
                    for c, off in zip(counters, self._counter_offsets, strict=True)
                ]
            day = self._snapshots[-1]
            yesterday = self._snapshots[-2] if len(self._snapshots) > 1 else day
            week = self._snapshots[0]
            return self._build_site(t, firmware, counters, rates, day, yesterday, week)

    def _build_site(
        self,
        t: float,
        firmware: str | None,
        counters: list[list[float]],
        rates: list[list[float]],
        day: _Snapshot,
        yesterday: _Snapshot,
        week: _Snapshot,
    ) -> Site:
        p = self.profile
        volts = [self.voltage(t, phase) for phase in range(p.phase_count)]
        wobble = smooth_noise(self.seed, 60, t, 600)

        def since(snapshot: _Snapshot, phase: int, index: int | None) -> float:
            if index is None:
                return 0.0
            start = snapshot.counters[phase][index]
            if self._counter_offsets is not None:
                start -= self._counter_offsets[phase][index]
            return counters[phase][index] - start

        def ct(measurement: str) -> Ct:
            kind = CT_KINDS[measurement]
            phases = []
            for i in range(p.phase_count):
                delivered = counters[i][kind.delivered]
                received = 0.0 if kind.received is None else counters[i][kind.received]
                watts = rates[i][kind.delivered]
                if kind.received is not None:
                    watts -= rates[i][kind.received]
                sign = 1.0 if kind.balance else 0.0
                phases.append(
                    CtPhase(
                        watts=watts,
                        voltage_v=volts[i],
                        power_factor=kind.power_factor - 0.05 * wobble,
                        wh_delivered=delivered,
                        wh_received=received,
                        varh_lead=received * 0.3,
                        varh_lag=delivered * 0.12,
                        vah=(delivered + received) * 1.04,
                        wh_today=since(day, i, kind.delivered)
                        - sign * since(day, i, kind.received),
                        wh_last_seven_days=since(week, i, kind.delivered)
                        - sign * since(week, i, kind.received),
                    )
                )
            return Ct(tuple(phases))

        production = consumption = storage = None
        if p.cts:
            production = ct("production")
            consumption = ct(p.consumption_kind)
            if p.storage_ct:
                storage = ct("storage")
        return site(
            p,
            instant=int(t),
            inverters=self._inverters(day, yesterday, week),
            production_ct=production,
            consumption_ct=consumption,
            storage_ct=storage,
            batteries=self._batteries(t, counters, rates),
            iq_batteries=self._iq_batteries(t, rates),
            frequency_hz=self.frequency(t),
            firmware=firmware,
        )

    def _inverters(
        self, day: _Snapshot, yesterday: _Snapshot, week: _Snapshot
    ) -> tuple[Microinverter, ...]:
        p, r = self.profile, self._reports
        offsets = self._joule_offsets or [0.0] * p.inverters
        made = []
        for i in range(p.inverters):
            joules = r.last_joules[i]
            made.append(
                inverter(
                    p,
                    i,
                    watts=r.watts[i],
                    joules_lifetime=max(int(joules - offsets[i]), 0),
                    last_report_at=r.last_at[i],
                    report_interval_s=r.interval_s[i],
                    wh_today=max(round((joules - day.joules[i]) / 3600), 0),
                    wh_yesterday=max(round((day.joules[i] - yesterday.joules[i]) / 3600), 0),
                    wh_week=max(round((joules - week.joules[i]) / 3600), 0),
                    ac_voltage_mv=r.ac_voltage_mv[i],
                    dc_voltage_mv=r.dc_voltage_mv[i],
                    dc_current_ma=r.dc_current_ma[i],
                    temperature_c=r.temperature_c[i],
                )
            )
        return with_removed(p, tuple(made))

    def _iq_batteries(self, t: float, rates: list[list[float]]) -> tuple[IqBattery, ...]:
        """The IQ Batteries now: power and state of charge, and what their last report said."""
        p = self.profile
        if not p.batteries or p.battery_kind != "iq":
            return ()
        n = p.batteries
        watts = (rates[0][DIS] - rates[0][CHG]) / n
        made = []
        for index in range(n):
            # Reports staggered by 37 s per battery, never on a poll's whole minute.
            offset = 23 + 37 * index
            reported = int(t - (t - offset) % IQ_REPORT_S)
            made.append(
                iq_battery(
                    p,
                    index,
                    watts=watts,
                    soc_pct=self._soc_pct(self._stored_wh),
                    reported_soc_pct=self._soc_pct(self._stored_at(reported)),
                    last_report_at=reported,
                    temperature_c=round(18 + 9 * abs(watts) / p.battery_max_watts),
                )
            )
        return tuple(made)

    def _soc_pct(self, stored_wh: float) -> float:
        return 100 * stored_wh / self._capacity_wh

    def _stored_at(self, t: float) -> float:
        """Stored energy at the last step boundary at or before ``t`` (kept a few minutes)."""
        found = self._stored_wh
        for at, stored in reversed(self._stored_history):
            found = stored
            if at <= t:
                break
        return found

    def _batteries(
        self, t: float, counters: list[list[float]], rates: list[list[float]]
    ) -> tuple[AcBattery, ...]:
        p = self.profile
        if not p.batteries or p.battery_kind != "acb":
            return ()
        n = p.batteries
        watts = (rates[0][DIS] - rates[0][CHG]) / n
        return tuple(
            battery(
                p,
                index,
                watts=round(watts),
                wh_now=round(self._stored_wh / n),
                last_report_at=int(t - t % 300) - 17 * index,
                joules_discharged=max(int(counters[0][DIS] / n * 3600), 0),
                joules_charged=max(int(counters[0][CHG] / n * 3600), 0),
            )
            for index in range(n)
        )


@dataclass(frozen=True, slots=True)
class _CtKind:
    """Which counters a CT measures: delivered and (when it has one) received."""

    delivered: int
    received: int | None
    power_factor: float
    balance: bool = False  # the gateway's daily figure is the signed delivered - received


CT_KINDS = {
    "production": _CtKind(PV_D, PV_R, 0.99),
    "net-consumption": _CtKind(IMP, EXP, 0.93, balance=True),
    "total-consumption": _CtKind(LOAD, None, 0.95),
    "storage": _CtKind(DIS, CHG, 0.97),
}
