"""The commands' one progress bar: click's, on stderr, on a terminal, once the work proves long.

``rollup``, ``export`` and ``demo`` hand the callback to their library function, which
calls it with (done, total) as it goes. Off a terminal (a pipe, a log, cron) there is
no callback at all, so nothing is drawn and the library skips the counting.

``poll`` and ``probe`` wait for one gateway answer at a time: ``WaitNotice`` says on
stderr which endpoint keeps them waiting, instead of minutes of silence.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import IO, Any

import click

# Work still running after this long gets a bar; work done sooner never shows one.
SHOW_AFTER_S = 1.0


def is_terminal(stream: IO[Any]) -> bool:
    """Say whether ``stream`` is a terminal (a person watching), not a pipe or a file."""
    return stream.isatty()


@contextmanager
def progress_bar(
    label: str, *, clock: Callable[[], float] = time.monotonic
) -> Iterator[Callable[[int, int], None] | None]:
    """A ``(done, total)`` callback drawing a bar once the work has run SHOW_AFTER_S, or None."""
    if not is_terminal(sys.stderr):
        yield None
        return
    started = clock()
    with ExitStack() as stack:
        bar: Any = None

        def show(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                if done >= total or clock() - started < SHOW_AFTER_S:
                    return
                bar = stack.enter_context(
                    click.progressbar(length=total, label=label, file=sys.stderr)
                )
            bar.update(done - bar.pos)

        yield show


# An endpoint that has not answered after this long gets a line saying so.
WAIT_NOTICE_S = 5.0


class WaitNotice:
    """A gateway client (anything with ``get(path)``) that says on stderr when an endpoint
    keeps the command waiting: after WAIT_NOTICE_S, then every WAIT_NOTICE_S * 6."""

    def __init__(self, client: Any, *, limit: str) -> None:
        self.client = client
        self.host = getattr(client, "host", "")
        self.limit = limit  # how long the command may take at most, for the message

    def get(self, path: str) -> Any:
        started = time.monotonic()
        done = threading.Event()

        def notice() -> None:
            wait = WAIT_NOTICE_S
            while not done.wait(wait):
                waited = time.monotonic() - started
                click.echo(
                    f"waiting for {path}: no answer after {waited:.0f} s ({self.limit})", err=True
                )
                wait = WAIT_NOTICE_S * 6

        thread = threading.Thread(target=notice, daemon=True)
        thread.start()
        try:
            return self.client.get(path)
        finally:
            done.set()
