"""Environment overrides: $ENVOYLOG_TOKEN for gateways without a token, $ENVOYLOG_DB, --db."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_support import WriteConfig, private_file

from envoylog.client import Secret
from envoylog.config import credentials_for, load_settings

GATEWAYS = """\
[[gateway]]
name = "bare"
host = "a.local"

[[gateway]]
name = "inline"
host = "b.local"
token = "inline.token.value"

[[gateway]]
name = "file"
host = "c.local"
token_file = "envoy.token"
"""


@pytest.fixture
def gateways(write_config: WriteConfig, tmp_path: Path) -> Path:
    private_file(tmp_path / "envoy.token", "file.token.value\n")
    return write_config(GATEWAYS)


def test_envoylog_token_applies_only_without_a_configured_token(gateways: Path) -> None:
    bare, inline, from_file = load_settings(
        gateways, {"ENVOYLOG_TOKEN": " env.token.value\n"}
    ).gateways
    assert (bare.token, bare.token_from_env) == (Secret("env.token.value"), True)
    assert (inline.token, inline.token_from_env) == (Secret("inline.token.value"), False)
    assert (from_file.token, from_file.token_from_env) == (None, False)
    assert from_file.token_file is not None
    assert credentials_for(from_file).resolve_token({})[0] == Secret("file.token.value")


def test_auth_kind_never_shows_a_secret(gateways: Path) -> None:
    bare, inline, from_file = load_settings(
        gateways, {"ENVOYLOG_TOKEN": "env.token.value"}
    ).gateways
    assert bare.auth_kind == "token from $ENVOYLOG_TOKEN"
    assert inline.auth_kind == "token (inline)"
    assert from_file.auth_kind.startswith("token file ")
    assert "value" not in repr((bare, inline, from_file))


def test_token_file_name_resolves_in_the_credentials_directory(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    credentials = tmp_path / "run-credentials"
    credentials.mkdir()
    private_file(credentials / "envoy-token", "loaded.by.systemd\n")
    path = write_config('[[gateway]]\nname = "a"\nhost = "a"\ntoken_file = "envoy-token"\n')
    (gateway,) = load_settings(path, {"CREDENTIALS_DIRECTORY": str(credentials)}).gateways
    assert gateway.token_file == credentials / "envoy-token"
    assert credentials_for(gateway).resolve_token({})[0] == Secret("loaded.by.systemd")


def test_credentials_carry_every_setting(write_config: WriteConfig, tmp_path: Path) -> None:
    private_file(tmp_path / "enlighten", "hunter2\n")
    path = write_config(
        '[[gateway]]\nname = "a"\nhost = "a"\ndigest_password = "654321"\n'
        'enlighten_username = "me@example.com"\nenlighten_password_file = "enlighten"\n'
    )
    (gateway,) = load_settings(path, {}).gateways
    credentials = credentials_for(gateway)
    assert credentials.digest_password == Secret("654321")
    assert credentials.enlighten_username == "me@example.com"
    assert credentials.enlighten_password == Secret("hunter2")
    assert credentials.can_fetch_token


def test_database_precedence_flag_then_environment_then_file(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(write_config('database = "sqlite:///from-file.sqlite"\n'), {})
    assert settings.db_url() == "sqlite:///from-file.sqlite"
    monkeypatch.setenv("ENVOYLOG_DB", "sqlite:///from-env.sqlite")
    assert settings.db_url() == "sqlite:///from-env.sqlite"
    assert settings.db_url("sqlite:///from-flag.sqlite") == "sqlite:///from-flag.sqlite"


def test_no_database_anywhere_is_the_state_directory_file(tmp_path: Path) -> None:
    settings = load_settings(None, {})
    assert settings.db_url() == f"sqlite:///{tmp_path / 'state' / 'envoylog' / 'envoylog.sqlite'}"
    assert settings.spool_dir == tmp_path / "state" / "envoylog" / "spool"
