"""The commands' one progress bar: click's, on stderr, on a terminal, once the work proves long.

``rollup``, ``export`` and ``demo`` hand the callback to their library function, which
calls it with (done, total) as it goes. Off a terminal (a pipe, a log, cron) there is
no callback at all, so nothing is drawn and the library skips the counting.
"""

from __future__ import annotations

import sys
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
