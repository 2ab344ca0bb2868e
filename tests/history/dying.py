"""A compacting process that dies on the week's third day (imported by the spawned
workers of `compact --jobs`, which cannot see the test's monkeypatching)."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from typing import Any

from envoylog.history import compact as compact_module

DIES_ON = date(2024, 3, 30)


def compact_or_die(target: Any, step: timedelta, now: datetime) -> Any:
    if target.day == DIES_ON:
        os._exit(9)  # as the kernel's OOM killer leaves it: no exception, no cleanup
    return compact_module._worker_day(target, step, now)  # this process's: not patched


def plan_or_die(target: Any, step: timedelta) -> Any:
    """A planning process (SQLite) that dies the same way."""
    if target.day == DIES_ON:
        os._exit(9)
    return compact_module._worker_plan(target, step)
