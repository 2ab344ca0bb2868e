"""Energy accounting: cumulative counters -> interval energy -> local hours, days, months.

Pure functions only; the rollup that reads readings and writes energy tables
builds on these.
"""

from envoylog.energy.counters import (
    WRAP_WH,
    Correction,
    CorrectionKind,
    CounterKind,
    CounterResult,
    Interval,
    Method,
    Sample,
    Thresholds,
    intervals,
)
from envoylog.energy.figures import DerivedFigures, derived_consumption, derived_figures
from envoylog.energy.flows import (
    CounterSource,
    Flow,
    FlowChoice,
    choose_flows,
    counter_kind,
    is_trusted,
    meter_sources,
    system_source,
)
from envoylog.energy.periods import (
    Period,
    PeriodEnergy,
    Resolution,
    day_range,
    local_midnight,
    periods,
    split,
)

__all__ = [
    "WRAP_WH",
    "Correction",
    "CorrectionKind",
    "CounterKind",
    "CounterResult",
    "CounterSource",
    "DerivedFigures",
    "Flow",
    "FlowChoice",
    "Interval",
    "Method",
    "Period",
    "PeriodEnergy",
    "Resolution",
    "Sample",
    "Thresholds",
    "choose_flows",
    "counter_kind",
    "day_range",
    "derived_consumption",
    "derived_figures",
    "intervals",
    "is_trusted",
    "local_midnight",
    "meter_sources",
    "periods",
    "split",
    "system_source",
]
