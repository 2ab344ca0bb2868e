"""Per-panel health: each inverter's daily energy against the median inverter of that day.

Shading and cloud touch every panel of a site alike, so the median inverter of a
day is the yardstick: a panel at 0.8 made 20 % less than the typical one. Removed
inverters (the gateway lists them as inactive) are marked and never yardsticks,
never under-performers.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from envoylog.db.report import InverterStatus

BELOW_PEERS = 0.90  # under-performer: less than 90 % of the median inverter over the range
FALLING_BY = 0.05  # ... or its share fell by 5 points against its own earlier days
RECENT_DAYS = 14  # the recent days compared with the days before them


@dataclass(frozen=True, slots=True)
class Inverter:
    serial: str
    removed: bool
    ratio: float | None  # its energy over the range / the median inverter's
    earlier: float | None  # the same ratio before the recent days
    recent: float | None  # ... and over the recent days
    kwh: float

    @property
    def below_peers(self) -> bool:
        return not self.removed and self.ratio is not None and self.ratio < BELOW_PEERS

    @property
    def falling(self) -> bool:
        if self.removed or self.earlier is None or self.recent is None:
            return False
        return self.earlier - self.recent >= FALLING_BY

    @property
    def under_performing(self) -> bool:
        return self.below_peers or self.falling


@dataclass(frozen=True, slots=True)
class Health:
    """The heatmap's cells (serial x day: kWh and ratio) and the verdict on each inverter."""

    cells: pd.DataFrame  # serial, date, energy_kwh, ratio
    inverters: tuple[Inverter, ...]  # weakest first, removed last

    @property
    def under_performers(self) -> list[Inverter]:
        return [i for i in self.inverters if i.under_performing]

    @property
    def removed(self) -> list[Inverter]:
        return [i for i in self.inverters if i.removed]


def inverter_health(days: pd.DataFrame, statuses: Mapping[str, InverterStatus]) -> Health:
    """Ratios to the median inverter per day and per inverter, from the inverters export.

    Computed on one inverter x day array (a year of 36 inverters is 13,000 cells).
    """
    removed = {s for s, status in statuses.items() if status.active is False}
    cells = days[["inverter_serial", "date", "energy_kwh"]].rename(
        columns={"inverter_serial": "serial"}
    )
    grid = cells.pivot_table(index="serial", columns="date", values="energy_kwh", aggfunc="sum")
    grid = grid.reindex(columns=sorted(grid.columns))
    serials = [str(s) for s in grid.index]
    energy = grid.to_numpy(dtype=float)
    gone = np.array([s in removed for s in serials], dtype=bool)
    with warnings.catch_warnings():  # a day no active inverter reported: no median, NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(energy[~gone], axis=0) if (~gone).any() else energy[0] * np.nan
    usable = np.where(median > 0, median, np.nan)
    ratios = energy / usable
    rows = pd.Index(serials).get_indexer(pd.Index(cells["serial"].astype(str)))
    columns = pd.Index(grid.columns).get_indexer(pd.Index(cells["date"]))
    cells = cells.assign(ratio=ratios[rows, columns])
    count = energy.shape[1]
    recent = slice(count - RECENT_DAYS, count) if count > RECENT_DAYS else None
    earlier = slice(0, count - RECENT_DAYS)
    verdicts = [
        Inverter(
            serial=serial,
            removed=bool(gone[k]),
            ratio=_share(energy[k], usable, slice(0, count)),
            earlier=_share(energy[k], usable, earlier) if recent else None,
            recent=_share(energy[k], usable, recent) if recent else None,
            kwh=float(np.nansum(energy[k])),
        )
        for k, serial in enumerate(serials)
    ]
    verdicts.sort(key=lambda i: (i.removed, i.ratio if i.ratio is not None else np.inf, i.serial))
    return Health(cells.reset_index(drop=True), tuple(verdicts))


def _share(energy: Any, median: Any, days: slice) -> float | None:
    """Energy over the median's on the days both are known."""
    mine, typical = energy[days], median[days]
    known = ~np.isnan(mine) & ~np.isnan(typical)
    total = float(typical[known].sum())
    return float(mine[known].sum()) / total if total > 0 else None
