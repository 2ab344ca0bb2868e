"""Tiered history: readings past the full-resolution window compacted with exact energy."""

from envoylog.history.compact import CompactionSummary, compact, compact_day, pending

__all__ = ["CompactionSummary", "compact", "compact_day", "pending"]
