"""Move a PollResult in time, so a replayed (static) poll stores new rows each round."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from envoylog.records import EndpointResult, PollResult

_INSTANTS = ("measured_at", "reported_at")


def _shift_record(record: Any, by: timedelta) -> Any:
    for name in _INSTANTS:
        if hasattr(record, name):
            return replace(record, **{name: getattr(record, name) + by})
    return record


def shift_poll(poll: PollResult, by: timedelta) -> PollResult:
    """The same poll ``by`` later: every instant in it moved, values unchanged."""
    endpoints = tuple(
        replace(
            e,
            fetched_at=e.fetched_at + by,
            records=tuple(_shift_record(r, by) for r in e.records),
        )
        for e in poll.endpoints
    )
    return replace(
        poll,
        started_at=poll.started_at + by,
        finished_at=poll.finished_at + by,
        endpoints=endpoints,
    )


def endpoint_names(poll: PollResult) -> list[str]:
    return [e.endpoint for e in poll.endpoints if isinstance(e, EndpointResult)]
