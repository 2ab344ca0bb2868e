"""``envoylog simulate``: the messages a user sees when something is wrong."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests
from click.testing import CliRunner

from envoylog.cli.simulate import simulate


def test_missing_folder_is_one_clear_sentence(tmp_path: Path) -> None:
    result = CliRunner().invoke(simulate, ["--replay", str(tmp_path / "nope"), "--port", "0"])
    assert result.exit_code == 1
    assert (
        result.output
        == f"Error: Replay folder {tmp_path / 'nope'} does not exist or is not a folder.\n"
    )


def test_folder_without_info_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(simulate, ["--replay", str(tmp_path), "--port", "0"])
    assert result.exit_code == 1
    assert "has no 'info' file" in result.output
    assert "Traceback" not in result.output


def test_busy_port_is_one_clear_sentence(tmp_path: Path) -> None:
    (tmp_path / "info").write_text("<envoy_info/>")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(simulate, ["--replay", str(tmp_path), "--port", str(port)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: Cannot listen on 127.0.0.1:{port}: Address already in use. "
        "Choose another --port (0 = any free).\n"
    )


def test_every_option_has_help() -> None:
    assert simulate.help
    assert all(param.help for param in simulate.params if hasattr(param, "help"))


def test_serves_until_sigterm_and_exits_zero() -> None:
    sample = Path(__file__).resolve().parents[2] / "sample_data" / "metered-no-cts"
    command = [sys.executable, "-m", "envoylog", "simulate", "--replay", str(sample), "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split(" at ")[1].split(" ")[0]
        assert requests.get(f"{url}/info", timeout=5).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert line.startswith(f"Serving {sample} at http://127.0.0.1:")
    assert line.endswith(" (Ctrl-C to stop)\n")
