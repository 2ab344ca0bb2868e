"""The commands' one progress bar (envoylog.cli.progress), through click's CliRunner."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from envoylog.cli import progress as bars


class Clock:
    """Moves `step` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def command(clock: Clock, steps: int = 5) -> click.Command:
    @click.command()
    def work() -> None:
        with bars.progress_bar("Working", clock=clock) as progress:
            for done in range(1, steps + 1):
                if progress is not None:
                    progress(done, steps)
        click.echo("done")

    return work


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bars, "is_terminal", lambda stream: True)


def test_work_that_proves_long_shows_a_bar_on_stderr(terminal: None) -> None:
    result = CliRunner().invoke(command(Clock(step=0.6)))
    assert result.exit_code == 0, result.output
    assert "Working" in result.stderr
    assert result.stdout == "done\n"


def test_short_work_shows_no_bar(terminal: None) -> None:
    result = CliRunner().invoke(command(Clock(step=0.1)))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_work_done_at_the_first_report_shows_no_bar(terminal: None) -> None:
    result = CliRunner().invoke(command(Clock(step=10.0), steps=1))
    assert result.stderr == ""


def test_off_a_terminal_there_is_no_callback_and_no_bar() -> None:
    seen: list[object] = []

    @click.command()
    def work() -> None:
        with bars.progress_bar("Working") as progress:
            seen.append(progress)

    result = CliRunner().invoke(work)
    assert seen == [None]
    assert result.stderr == ""
