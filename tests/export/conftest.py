"""Export tests import energy_rows.py (next to this file) and the store's poll factories."""

from __future__ import annotations

import sys
from pathlib import Path

# energy_rows.py next to this file; the store's poll factories for the end-to-end tests.
sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "db")]
