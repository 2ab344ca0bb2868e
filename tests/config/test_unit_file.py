"""deploy/envoylog.service and the fleet's template deploy/envoylog@.service pass
systemd-analyze verify and keep the promised settings."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

UNIT = REPO / "deploy" / "envoylog.service"
TEMPLATE = REPO / "deploy" / "envoylog@.service"
INSTALLED_BINARY = "/usr/local/bin/envoylog"


def directives(unit: Path = UNIT) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("WatchdogSec", "120"),
        ("Restart", "on-failure"),
        ("DynamicUser", "yes"),
        ("StateDirectory", "envoylog"),
        ("ConfigurationDirectory", "envoylog"),
        ("LoadCredential", "envoy-token:/etc/envoylog/envoy.token"),
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
        ("SystemCallFilter", "@system-service"),
        ("UMask", "0077"),
        ("ExecStart", f"{INSTALLED_BINARY} run"),
    ],
)
def test_unit_sets(key: str, value: str) -> None:
    assert value in directives().get(key, []), f"{key}={value} missing from {UNIT.name}"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Environment", "ENVOYLOG_CONFIG=/etc/envoylog/%i.toml"),
        ("StateDirectory", "envoylog/%i"),
        ("LoadCredential", "envoy-token:/etc/envoylog/%i.token"),
    ],
)
def test_template_sets_per_instance(key: str, value: str) -> None:
    assert directives(TEMPLATE).get(key) == [value]


def test_template_keeps_every_other_setting_of_the_single_unit() -> None:
    per_instance = {"Description", "Environment", "StateDirectory", "LoadCredential"}
    single, template = directives(), directives(TEMPLATE)
    assert {k: v for k, v in template.items() if k not in per_instance} == {
        k: v for k, v in single.items() if k not in per_instance
    }


@pytest.mark.parametrize(
    ("source", "name"), [(UNIT, "envoylog.service"), (TEMPLATE, "envoylog@north.service")]
)
def test_systemd_analyze_verify(tmp_path: Path, source: Path, name: str) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    # verify insists that ExecStart's binary exists: point it at this venv's envoylog.
    binary = Path(sys.executable).parent / "envoylog"
    if not binary.exists():
        pytest.skip(f"{binary} is missing: install envoylog into this venv (pip install -e .)")
    unit = tmp_path / name  # a template is verified as one of its instances
    unit.write_text(source.read_text().replace(INSTALLED_BINARY, str(binary)))
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
