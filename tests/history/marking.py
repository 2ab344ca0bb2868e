"""A planning process that leaves a file named for each day it planned, in the folder
$ENVOYLOG_TEST_MARKS (imported by the spawned workers of `compact --jobs` on SQLite)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from envoylog.history import compact as compact_module


def plan_and_mark(target: Any, step: timedelta) -> Any:
    plan = compact_module._worker_plan(target, step)  # this process's: not patched
    (Path(os.environ["ENVOYLOG_TEST_MARKS"]) / target.day.isoformat()).touch()
    return plan
