"""A fleet needs a socket per gateway: the service raises its open-files limit, or says why not."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

PROBE = """
import resource
from envoylog.oslimits import raise_open_files
print(raise_open_files(500), resource.getrlimit(resource.RLIMIT_NOFILE)[0], raise_open_files(5000))
"""


def limited(soft: int, hard: int) -> object:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return apply


def test_the_soft_limit_is_raised_as_far_as_the_hard_limit_allows() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        preexec_fn=limited(64, 1000),  # type: ignore[arg-type]
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.stdout.split() == ["500", "500", "1000"], done.stderr


def test_a_fleet_beyond_the_hard_limit_is_warned_about_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "fleet.toml"
    gateways = "".join(
        f'[[gateway]]\nname = "gw{i}"\nhost = "http://127.0.0.1:9"\n\n' for i in range(300)
    )
    config.write_text(f'database = "sqlite:///{tmp_path / "fleet.sqlite"}"\n\n{gateways}')
    environ = {**os.environ, "ENVOYLOG_CONFIG": str(config), "XDG_STATE_HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "envoylog", "run"],
        env=environ,
        preexec_fn=limited(64, 400),  # type: ignore[arg-type]
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        warning = next(line for line in process.stdout if "open_files_limit" in line)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)

    assert "gateways=300 limit=400 wanted=556" in warning
    assert "raise LimitNOFILE= in the systemd unit" in warning
