"""Poll a gateway and store the result: the one path every logging command takes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from envoylog.db import Spool, Writer, WriteResult
from envoylog.db.save import SaveSummary
from envoylog.paths import state_dir
from envoylog.poller import Clock, Fetcher, GatewayState, poll_once, utc_now
from envoylog.records import PollResult


def default_spool_dir() -> Path:
    return state_dir() / "spool"


@dataclass(frozen=True, slots=True)
class Collected:
    poll: PollResult
    write: WriteResult

    @property
    def summary(self) -> SaveSummary:
        return self.write.summary


def open_writer(db_url: str, spool_dir: Path | None = None) -> Writer:
    """A Writer for ``db_url`` that falls back to the spool folder when the database is down."""
    return Writer(db_url, Spool(spool_dir or default_spool_dir()))


def collect(
    client: Fetcher, state: GatewayState, writer: Writer, *, clock: Clock = utc_now
) -> Collected:
    """Poll one gateway once and store (or spool) everything it gave."""
    poll = poll_once(client, state, clock=clock)
    return Collected(poll=poll, write=writer.write(poll))
