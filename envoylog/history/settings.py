"""The defaults of the compaction settings (config/table.py explains them)."""

from __future__ import annotations

from datetime import timedelta

FULL_RESOLUTION_DEFAULT = 14  # local days kept as polled
# At most this apart, compacted readings stay within the energy's 30-minute gap limit
# (counters.Thresholds.max_gap) with a reading's cadence to spare.
STEP_DEFAULT = timedelta(minutes=15)
