"""Every command explains itself, and the README names every command."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from support import REPO

from envoylog.cli import cli


def all_commands() -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    ctx = click.Context(cli)

    def walk(prefix: str, group: click.Group, ctx: click.Context) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None, name
            found.append((f"{prefix}{name}", command))
            if isinstance(command, click.Group):
                walk(f"{prefix}{name} ", command, click.Context(command, parent=ctx))

    walk("", cli, ctx)
    return found


def test_top_level_help_lists_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "Enphase" in result.output
    for name, _ in all_commands():
        if " " not in name:
            assert name in result.output


@pytest.mark.parametrize("name", [n for n, _ in all_commands()])
def test_command_help_says_what_it_does(name: str) -> None:
    result = CliRunner().invoke(cli, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    command = dict(all_commands())[name]
    assert command.help and len(command.help.strip()) > 20
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden and param.name != "help":
            assert param.help, f"envoylog {name} {param.opts[0]} has no help text"


def test_readme_names_every_command() -> None:
    readme = (REPO / "README.md").read_text()
    for name, _ in all_commands():
        assert f"envoylog {name}" in readme, f"README does not mention `envoylog {name}`"
