"""`envoylog config check` against a replayed gateway over a real socket, and a dead port."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner
from config_support import WriteConfig
from impostor import impostor, needs_openssl, refused_impostor_sentence
from support import SAMPLE_DATA, make_jwt

from envoylog.cli import EnvoylogGroup
from envoylog.cli.config import config
from envoylog.config import load
from envoylog.simulator.replay import ReplayServer

# The command as `envoylog config` runs it: library errors become one line.
cli = EnvoylogGroup(name="envoylog-test", commands=[config])


def check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["config", "check", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def gateway(host: str, name: str = "garage") -> str:
    return f'[[gateway]]\nname = "{name}"\nhost = "{host}"\n'


def test_check_reaches_a_replayed_legacy_gateway(write_config: WriteConfig) -> None:
    with ReplayServer(SAMPLE_DATA / "legacy-5.0-nonmetered") as server:
        path = write_config(gateway(server.url))
        code, out = check("--config", str(path))
    assert code == 0, out
    assert f"Config file   {path}" in out
    assert "  garage\n" in out and "cadences  all as [cadence]" in out
    assert f"Gateway garage ({server.url})" in out
    assert "  serial       " in out and "  firmware     5." in out
    assert "  metered      no" in out
    assert "  answered     info, " in out


def test_dead_port_exits_non_zero_with_one_sentence(write_config: WriteConfig) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = write_config(gateway(f"http://127.0.0.1:{port}"))
    code, out = check("--config", str(path))
    assert code == 1
    assert "  unreachable  Cannot connect to " in out
    last = out.splitlines()[-1]
    assert last == (
        "Error: 1 of 1 gateways could not be reached or gave no data (garage); see above for why."
    )


def test_invalid_file_is_one_line_and_contacts_nothing(write_config: WriteConfig) -> None:
    path = write_config(gateway("envoy.local") + "hots = 1\n")
    code, out = check("--config", str(path))
    assert code == 1
    assert out == (
        f"Error: {path}: gateway[1].hots is not a setting envoylog knows; "
        "rename it to host (the closest valid key) or remove it.\n"
    )


def test_summary_hides_secrets_and_passwords(write_config: WriteConfig) -> None:
    text = 'database = "postgresql+psycopg://envoylog:s3cret@db.lan/envoylog"\n'
    text += gateway("envoy.local") + 'token = "abc.def.ghi"\n[gateway.cadence]\nhome = 0\n'
    code, out = check("--config", str(write_config(text)), "--offline")
    assert code == 0, out
    assert "s3cret" not in out and "abc.def" not in out
    assert "Database      PostgreSQL database envoylog@db.lan:5432/envoylog" in out
    assert "auth      token (inline)" in out
    assert "cadences  home off, others as [cadence]" in out


def test_no_gateway_is_an_error(write_config: WriteConfig) -> None:
    path = write_config('log_level = "info"\n')
    code, out = check("--config", str(path), "--offline")
    assert code == 1
    assert out.endswith(
        f"Error: {path}: there is no [[gateway]] table; add one with name and host.\n"
    )


def test_no_file_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "SYSTEM_CONFIG", tmp_path / "none.toml")
    code, out = check()
    assert code == 1
    assert out.startswith("Error: No config file found (--config, $ENVOYLOG_CONFIG,")
    assert out.count("\n") == 1


@needs_openssl
def test_check_sends_nothing_to_an_impostor_on_the_pinned_address(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    with impostor(tmp_path) as server:
        path = write_config(gateway(server.url) + f'token = "{make_jwt()}"\n')
        code, out = check("--config", str(path))

    assert code == 1
    assert f"  unreachable  {refused_impostor_sentence(server)}" in out
    assert server.received and not server.sent_anything()
