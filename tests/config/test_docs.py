"""The example file and docs/configuration.md come from the settings table and agree with it."""

from __future__ import annotations

from pathlib import Path

from config_support import private_file
from support import REPO

from envoylog.config import load_settings, table
from envoylog.config.docs import render_docs, render_example

EXAMPLE = REPO / "deploy" / "envoylog.example.toml"
DOCS = REPO / "docs" / "configuration.md"
REGENERATE = "run `python -m envoylog.config.docs` and commit the result"


def test_example_file_is_generated_from_the_table() -> None:
    assert EXAMPLE.read_text() == render_example(), REGENERATE


def test_docs_table_is_generated_from_the_table() -> None:
    current = DOCS.read_text()
    assert current == render_docs(current), REGENERATE


def test_every_key_is_in_the_docs_and_the_example() -> None:
    docs, example = DOCS.read_text(), EXAMPLE.read_text()
    for setting in table.ALL:
        assert f"| `{setting.key}` |" in docs, setting.dotted
        assert f"{setting.key} = " in example, setting.dotted
        assert setting.help.split(";")[0][:40] in " ".join(
            line.removeprefix("# ") for line in example.splitlines()
        ), setting.dotted


def test_example_file_loads(tmp_path: Path) -> None:
    private_file(tmp_path / "envoy-token")
    settings = load_settings(EXAMPLE, {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    home, garage = settings.gateways
    assert (home.name, home.token_file, home.cadences["meter_readings"]) == (
        "home",
        tmp_path / "envoy-token",
        30,
    )
    assert (garage.host, garage.timezone, garage.token_file) == (
        "http://192.168.1.20",
        "Europe/Berlin",
        None,
    )


def test_docs_name_every_environment_variable() -> None:
    docs = DOCS.read_text()
    for name in ("ENVOYLOG_CONFIG", "ENVOYLOG_DB", "ENVOYLOG_TOKEN", "CREDENTIALS_DIRECTORY"):
        assert name in docs
