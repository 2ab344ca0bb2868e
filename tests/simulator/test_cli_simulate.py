"""``envoylog simulate``: the messages a user sees when something is wrong."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
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


def test_unknown_site_profile_is_one_sentence() -> None:
    result = CliRunner().invoke(simulate, ["--site", "garden-shed", "--port", "0"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: Unknown site profile 'garden-shed': choose one of ")
    assert result.output.count("\n") == 1


def test_a_start_that_is_not_a_time_is_a_usage_error() -> None:
    args = ["--site", "metered-split-phase", "--port", "0", "--start", "06:00 tomorrow"]
    result = CliRunner().invoke(simulate, args)
    assert result.exit_code == 2
    assert "'06:00 tomorrow' is not an ISO-8601 date or time" in result.output


def test_bad_fault_spec_is_one_sentence() -> None:
    args = ["--site", "metered-split-phase", "--port", "0", "--fault", "slow:rate=x"]
    result = CliRunner().invoke(simulate, args)
    assert result.exit_code == 1
    assert result.output == "Error: Fault 'slow:rate=x': rate must be a number from 0 to 1.\n"


def test_replay_or_site_is_required() -> None:
    result = CliRunner().invoke(simulate, ["--port", "0"])
    assert result.output == "Error: Give either --replay DIR or --site PROFILE.\n"


def test_help_lists_profiles_and_faults() -> None:
    result = CliRunner().invoke(simulate, ["--help"], terminal_width=200)
    assert "eu-single-phase-storage" in result.output
    assert "nightly-hang:" in result.output and "counter-reset:" in result.output


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_simulated_site_serves_a_token_and_its_truth() -> None:
    command = [
        *(sys.executable, "-m", "envoylog", "simulate", "--site", "modern-7.6-nonmetered"),
        *("--port", "0", "--speed", "600", "--start", "2024-06-01T10:00"),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        first, token_line = process.stdout.readline(), process.stdout.readline()
        url = first.split(" at ")[1].split(" ")[0]
        token = token_line.removeprefix("Token: ").strip()
        bearer = {"Authorization": f"Bearer {token}"}
        home = requests.get(f"{url}/home", headers=bearer, timeout=5, verify=False)
        truth = requests.get(f"{url}/__sim/truth", timeout=5, verify=False).json()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert url.startswith("https://127.0.0.1:")
    assert home.json()["timezone"] == "Europe/Amsterdam"
    assert truth["from"] == "2024-06-01T10:00:00+02:00"
