"""Storage tests import factories.py, next to this file."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # factories.py, next to this file
