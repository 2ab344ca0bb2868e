"""The defaults of the compaction settings (config/table.py explains them)."""

from __future__ import annotations

from datetime import timedelta

FULL_RESOLUTION_DEFAULT = 14  # local days kept as polled
# An hour: the energy tables' own resolution. Counters are kept at every local hour
# whatever the step, and a kept reading covers the span its folded readings covered, so a
# longer step than the gap limit keeps the coverage (docs/configuration.md says why).
STEP_DEFAULT = timedelta(hours=1)
