"""`envoylog token`."""

from __future__ import annotations

import stat
from pathlib import Path

import responses
from click.testing import CliRunner

from envoylog.cli.token import token as token_command
from envoylog.client.enlighten import LOGIN_URL, TOKEN_URL
from envoylog.errors import CloudError


def mock_cloud(rsps: responses.RequestsMock, token: str) -> None:
    rsps.post(LOGIN_URL, json={"session_id": "f00d"})
    rsps.post(TOKEN_URL, body=token)


def test_token_is_written_with_mode_0600(rsps: responses.RequestsMock, tmp_path: Path, jwt) -> None:
    token = jwt.make()
    mock_cloud(rsps, token)
    (tmp_path / "pw").write_text("hunter2\n")
    output = tmp_path / "envoy.token"

    result = CliRunner().invoke(
        token_command,
        [
            "--serial",
            "1",
            "--username",
            "me@example.com",
            "--password-file",
            str(tmp_path / "pw"),
            "--output",
            str(output),
        ],
    )

    assert result.exit_code == 0, result.output
    assert output.read_text() == token + "\n"
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert result.stdout == ""
    assert "The token expires on" in result.stderr
    assert b"user%5Bpassword%5D=hunter2" in rsps.calls[0].request.body.encode()


def test_token_is_printed_and_password_prompted(rsps: responses.RequestsMock, jwt) -> None:
    token = jwt.make()
    mock_cloud(rsps, token)

    result = CliRunner().invoke(
        token_command, ["--serial", "1", "--username", "me@example.com"], input="hunter2\n"
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(token)
    assert "hunter2" not in result.output


def test_cloud_failure_is_an_envoylog_error(rsps: responses.RequestsMock) -> None:
    rsps.post(LOGIN_URL, status=401, json={"message": "Login failed"})

    result = CliRunner().invoke(
        token_command, ["--serial", "1", "--username", "me@example.com"], input="bad\n"
    )

    assert isinstance(result.exception, CloudError)


def test_every_option_has_help() -> None:
    assert token_command.help
    assert all(getattr(p, "help", None) for p in token_command.params)
