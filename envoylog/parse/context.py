"""What a parser may know beyond the body it parses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from envoylog.records import MeterConfig


@dataclass(frozen=True, slots=True)
class ParseContext:
    """The fetch instant (fallback for payloads without one) and facts from other endpoints."""

    fetched_at: datetime
    meters: tuple[MeterConfig, ...] | None = None  # from /ivp/meters, when known
    firmware: str | None = None  # from /info, when known
