"""Figures derived from per-period flow energy: consumption by balance, self-consumption."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from envoylog.energy.periods import PeriodEnergy


@dataclass(frozen=True, slots=True)
class DerivedFigures:
    """Daily (or any period's) figures from the flows; None where an input is missing."""

    self_consumption_wh: float | None  # production - export
    self_sufficiency: float | None  # (consumption - import) / consumption
    net_grid_wh: float | None  # import - export: positive = net importer


def derived_figures(
    *,
    production_wh: float | None,
    consumption_wh: float | None,
    import_wh: float | None,
    export_wh: float | None,
) -> DerivedFigures:
    """Self-consumption, self-sufficiency and net grid energy of one period.

    Values are not clamped: a self-sufficiency outside 0..1 shows counters
    that disagree, which a user should see rather than have hidden.
    """
    self_consumption = None
    if production_wh is not None and export_wh is not None:
        self_consumption = production_wh - export_wh
    sufficiency = None
    if consumption_wh and import_wh is not None:
        sufficiency = (consumption_wh - import_wh) / consumption_wh
    net = None if import_wh is None or export_wh is None else import_wh - export_wh
    return DerivedFigures(self_consumption, sufficiency, net)


def derived_consumption(
    production: Sequence[PeriodEnergy],
    imported: Sequence[PeriodEnergy],
    exported: Sequence[PeriodEnergy],
    *,
    discharged: Sequence[PeriodEnergy] = (),
    charged: Sequence[PeriodEnergy] = (),
    standby: Sequence[PeriodEnergy] = (),
) -> list[PeriodEnergy]:
    """Consumption per period as production + import - export (+ discharge - charge - standby).

    ``standby`` is what the inverters draw at night through the production CT
    (its received register): imported, but not the household's load.
    The inputs must cover the same periods; coverage is the lowest of the
    inputs', since the balance is only as complete as its weakest flow.
    """
    optional = ((discharged, 1.0), (charged, -1.0), (standby, -1.0))
    flows = [production, imported, exported, *(s for s, _ in optional if s)]
    signs = [1.0, 1.0, -1.0] + [sign for s, sign in optional if s]
    keys = [[p.period.start_utc for p in series] for series in flows]
    if any(k != keys[0] for k in keys):
        raise ValueError("derived consumption needs every flow split over the same periods")
    result: list[PeriodEnergy] = []
    for parts in zip(*flows, strict=True):
        wh = sum(sign * part.wh for sign, part in zip(signs, parts, strict=True))
        estimated = sum(abs(part.wh_estimated) for part in parts)
        coverage = min(part.coverage for part in parts)
        result.append(PeriodEnergy(parts[0].period, wh, estimated, coverage))
    return result
