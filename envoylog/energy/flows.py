"""Which counter each energy flow of a gateway comes from: one per flow, never spliced.

The caller looks at a range of stored readings, keeps only trusted ones
(:func:`is_trusted`), runs each candidate counter through the engine and
passes how much each grew. :func:`choose_flows` then picks one source per flow
in the preference order of ARCHITECTURE.md and says why. The choice holds for
the whole range: a source that starts half-way gives the early periods
coverage 0 rather than a splice of two differently-counting series (QUIRKS 10).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from envoylog.energy.counters import CounterKind
from envoylog.records import UNTRUSTED_FLAGS, Measurement, MeterConfig, ReadingFlag, Source


class Flow(enum.StrEnum):
    PRODUCTION = "production"
    IMPORT = "import"
    EXPORT = "export"
    CONSUMPTION = "consumption"
    DISCHARGE = "battery-discharge"
    CHARGE = "battery-charge"


class CounterSource(enum.StrEnum):
    """A cumulative counter series a gateway may have (a table, a column, a filter)."""

    PRODUCTION_CT = "production-ct-delivered"  # meter_readings ch 0, production CT, wh_delivered
    EIM_PRODUCTION = "eim-production"  # system_readings eim/production wh_lifetime
    INVERTER_LIFETIMES = "inverter-lifetimes"  # inverter_readings wh_lifetime, one run per inverter
    API_V1_PRODUCTION = "api-v1-production"  # system_readings api_v1/production wh_lifetime
    INVERTERS_PRODUCTION = "inverters-production"  # system_readings inverters/production
    NET_CT_DELIVERED = "net-ct-delivered"  # grid import
    NET_CT_RECEIVED = "net-ct-received"  # grid export
    TOTAL_CT_DELIVERED = "total-ct-delivered"
    TOTAL_CT_RECEIVED = "total-ct-received"
    STORAGE_CT_DELIVERED = "storage-ct-delivered"  # battery discharge
    STORAGE_CT_RECEIVED = "storage-ct-received"  # battery charge
    DERIVED = "derived"  # consumption = production + import - export: no counter of its own
    # Battery charge and discharge without a storage CT: each battery's power integrated
    # across readings at most 30 minutes apart. No counter: an estimate, and said so.
    POWER_INTEGRAL = "power-integral"


PRODUCTION_PREFERENCE = (
    CounterSource.PRODUCTION_CT,
    CounterSource.EIM_PRODUCTION,
    CounterSource.INVERTER_LIFETIMES,
    CounterSource.API_V1_PRODUCTION,
    CounterSource.INVERTERS_PRODUCTION,
)

# Counters built from microinverter joule counters wrap (QUIRKS 19); CT registers do not.
_INVERTER_BUILT = {
    CounterSource.INVERTER_LIFETIMES,
    CounterSource.API_V1_PRODUCTION,
    CounterSource.INVERTERS_PRODUCTION,
}

# The CT meter (measurement_type) a source depends on.
_METER_OF = {
    CounterSource.PRODUCTION_CT: "production",
    CounterSource.EIM_PRODUCTION: "production",
    CounterSource.NET_CT_DELIVERED: "net-consumption",
    CounterSource.NET_CT_RECEIVED: "net-consumption",
    CounterSource.TOTAL_CT_DELIVERED: "total-consumption",
    CounterSource.TOTAL_CT_RECEIVED: "total-consumption",
    CounterSource.STORAGE_CT_DELIVERED: "storage",
    CounterSource.STORAGE_CT_RECEIVED: "storage",
}

# A total-consumption CT counts its loads on one register and noise on the
# other; which is which depends on how the CT was clipped on (QUIRKS 11).
DIRECTION_RATIO = 0.1  # the minor register may grow at most this share of the major one


@dataclass(frozen=True, slots=True)
class FlowChoice:
    """The counter one flow is computed from (None: not computable), and why."""

    flow: Flow
    source: CounterSource | None
    reason: str

    @property
    def kind(self) -> CounterKind | None:
        """The counter kind to run the engine with, None for flows without a counter."""
        if self.source is None or self.source in NOT_COUNTERS:
            return None
        return counter_kind(self.source)


# Sources that are no stored counter series.
NOT_COUNTERS = frozenset({CounterSource.DERIVED, CounterSource.POWER_INTEGRAL})


def counter_kind(source: CounterSource) -> CounterKind:
    """Whether a source's counter can wrap at 2^32 J."""
    if source in NOT_COUNTERS:
        raise ValueError(f"{source} is no counter")
    return CounterKind.INVERTER_32BIT if source in _INVERTER_BUILT else CounterKind.METER


def is_trusted(flags: Iterable[ReadingFlag]) -> bool:
    """Whether a reading with these flags may be used as a counter value."""
    return not UNTRUSTED_FLAGS.intersection(flags)


def system_source(source: Source, measurement: Measurement) -> CounterSource:
    """The counter source of a ``system_readings`` series; raises for series that are no counter."""
    if measurement is Measurement.PRODUCTION:
        known = {
            Source.EIM: CounterSource.EIM_PRODUCTION,
            Source.API_V1: CounterSource.API_V1_PRODUCTION,
            Source.INVERTERS: CounterSource.INVERTERS_PRODUCTION,
        }
        if source in known:
            return known[source]
    if measurement is Measurement.NET_CONSUMPTION:
        raise ValueError(
            f"{source}/net-consumption wh_lifetime is a signed import - export balance, not a "
            "counter: take import and export from the net-consumption CT's wh_delivered and "
            "wh_received in meter_readings"
        )
    raise ValueError(
        f"{source}/{measurement} wh_lifetime is not an energy counter envoylog uses: consumption "
        "comes from the total-consumption CT's meter_readings or production + import - export"
    )


def meter_sources(measurement_type: str) -> tuple[CounterSource | None, CounterSource | None]:
    """The (delivered, received) counter sources of a CT meter of this measurement type."""
    pairs = {
        "production": (CounterSource.PRODUCTION_CT, None),  # received: night draw, not a flow
        "net-consumption": (CounterSource.NET_CT_DELIVERED, CounterSource.NET_CT_RECEIVED),
        "total-consumption": (CounterSource.TOTAL_CT_DELIVERED, CounterSource.TOTAL_CT_RECEIVED),
        "storage": (CounterSource.STORAGE_CT_DELIVERED, CounterSource.STORAGE_CT_RECEIVED),
    }
    return pairs.get(measurement_type, (None, None))


def choose_flows(
    growth_wh: Mapping[CounterSource, float],
    *,
    meters: Sequence[MeterConfig] | None = None,
    battery_power: bool = False,
) -> dict[Flow, FlowChoice]:
    """Pick one counter per flow from the series with trusted readings (source -> growth in Wh).

    ``meters`` is the gateway's ``/ivp/meters`` list; a CT that is disabled or
    not metering makes its sources unavailable. ``None``: the gateway lists no
    meters (old firmware), so ``eim`` data is judged by its flags alone.
    ``battery_power``: the batteries' own power was read, for charge and discharge
    where there is no storage CT.
    """
    if set(growth_wh) & NOT_COUNTERS:
        raise ValueError(f"{', '.join(sorted(set(growth_wh) & NOT_COUNTERS))} is no stored series")
    usable, vetoes = _usable(growth_wh, meters)
    choices = {
        Flow.PRODUCTION: _production(usable, vetoes),
        Flow.IMPORT: _single(Flow.IMPORT, CounterSource.NET_CT_DELIVERED, usable, vetoes),
        Flow.EXPORT: _single(Flow.EXPORT, CounterSource.NET_CT_RECEIVED, usable, vetoes),
        Flow.DISCHARGE: _battery(Flow.DISCHARGE, CounterSource.STORAGE_CT_DELIVERED, usable,
                                 vetoes, battery_power),
        Flow.CHARGE: _battery(Flow.CHARGE, CounterSource.STORAGE_CT_RECEIVED, usable, vetoes,
                              battery_power),
    }  # fmt: skip
    choices[Flow.CONSUMPTION] = _consumption(usable, vetoes, choices)
    return choices


def _battery(
    flow: Flow,
    source: CounterSource,
    usable: Mapping[CounterSource, float],
    vetoes: Mapping[CounterSource, str],
    battery_power: bool,
) -> FlowChoice:
    """The storage CT's counter, else the batteries' power integrated (an estimate)."""
    choice = _single(flow, source, usable, vetoes)
    if choice.source is not None or not battery_power:
        return choice
    reason = (
        f"{CounterSource.POWER_INTEGRAL}: each battery's power integrated across readings at "
        f"most 30 minutes apart, an estimate ({choice.reason})"
    )
    return FlowChoice(flow, CounterSource.POWER_INTEGRAL, reason)


def _usable(
    growth_wh: Mapping[CounterSource, float], meters: Sequence[MeterConfig] | None
) -> tuple[dict[CounterSource, float], dict[CounterSource, str]]:
    usable = dict(growth_wh)
    vetoes: dict[CounterSource, str] = {}
    if meters is None:
        return usable, vetoes
    for source in list(usable):
        measurement_type = _METER_OF.get(source)
        if measurement_type is None:
            continue
        listed = [m for m in meters if m.measurement_type == measurement_type]
        working = [m for m in listed if m.enabled and m.metering_status != "not-metering"]
        # eim production exists on firmware that lists no production CT; only a
        # listed but disabled or not-metering CT rules it out.
        if working or (source is CounterSource.EIM_PRODUCTION and not listed):
            continue
        vetoes[source] = f"{source}: the {measurement_type} CT is " + (
            "disabled or not metering" if listed else "not listed in /ivp/meters"
        )
        del usable[source]
    return usable, vetoes


def _production(
    usable: Mapping[CounterSource, float], vetoes: Mapping[CounterSource, str]
) -> FlowChoice:
    present = [s for s in PRODUCTION_PREFERENCE if s in usable]
    if not present:
        return FlowChoice(Flow.PRODUCTION, None, _missing("no production counter", vetoes))
    # /api/v1/production is all zeros or frozen on some firmware (QUIRKS 16): a
    # source that never moved while a lower-ranked one grew is skipped.
    moving = [s for s in present if usable[s] > 0]
    chosen = moving[0] if moving else present[0]
    skipped = PRODUCTION_PREFERENCE[: PRODUCTION_PREFERENCE.index(chosen)]
    notes = [vetoes[s] for s in skipped if s in vetoes]
    notes += [f"{s}: did not grow while {chosen} did (frozen)" for s in skipped if s in usable]
    notes += [f"{s}: no trusted readings" for s in skipped if s not in usable and s not in vetoes]
    reason = f"{chosen}: first available in the production preference order"
    return FlowChoice(Flow.PRODUCTION, chosen, "; ".join([reason, *notes]))


def _single(
    flow: Flow,
    source: CounterSource,
    usable: Mapping[CounterSource, float],
    vetoes: Mapping[CounterSource, str],
) -> FlowChoice:
    if source in usable:
        return FlowChoice(flow, source, f"{source}: the only counter for {flow}")
    return FlowChoice(
        flow, None, _missing(f"no {source} counter", {source: vetoes.get(source, "")})
    )


def _consumption(
    usable: Mapping[CounterSource, float],
    vetoes: Mapping[CounterSource, str],
    choices: Mapping[Flow, FlowChoice],
) -> FlowChoice:
    delivered = usable.get(CounterSource.TOTAL_CT_DELIVERED)
    received = usable.get(CounterSource.TOTAL_CT_RECEIVED)
    notes: list[str] = []
    if delivered is not None or received is not None:
        grown = {CounterSource.TOTAL_CT_DELIVERED: delivered or 0.0}
        grown[CounterSource.TOTAL_CT_RECEIVED] = received or 0.0
        major, minor = sorted(grown, key=lambda s: (-grown[s], s))
        if grown[major] > 0 and grown[minor] <= DIRECTION_RATIO * grown[major]:
            reason = (
                f"{major}: the total-consumption CT's loads register ({grown[major]:,.0f} Wh "
                f"against {grown[minor]:,.0f} Wh on {minor}, counted as reverse noise)"
            )
            return FlowChoice(Flow.CONSUMPTION, major, reason)
        notes.append(
            f"total-consumption CT direction unclear (delivered {grown[major]:,.0f} Wh, "
            f"received {grown[minor]:,.0f} Wh)"
        )
    parts = [choices[f] for f in (Flow.PRODUCTION, Flow.IMPORT, Flow.EXPORT)]
    if all(c.source is not None for c in parts):
        reason = "production + import - export (" + ", ".join(str(c.source) for c in parts) + ")"
        return FlowChoice(Flow.CONSUMPTION, CounterSource.DERIVED, "; ".join([reason, *notes]))
    vetoed = {s: v for s, v in vetoes.items() if _METER_OF.get(s) == "total-consumption"}
    missing = "no total-consumption CT and no production, import and export to derive it from"
    return FlowChoice(Flow.CONSUMPTION, None, "; ".join([_missing(missing, vetoed), *notes]))


def _missing(what: str, vetoes: Mapping[CounterSource, str]) -> str:
    reasons = [v for v in vetoes.values() if v]
    return "; ".join([what, *reasons])
