"""The defaults of the compaction settings (config/table.py explains them)."""

from __future__ import annotations

from datetime import timedelta

FULL_RESOLUTION_DEFAULT = 14  # local days kept as polled
# The energy's gap limit (counters.Thresholds.max_gap): the longest interval between two
# readings that still counts as covered, so no compacted day loses coverage.
STEP_DEFAULT = timedelta(minutes=30)
