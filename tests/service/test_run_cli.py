"""`envoylog run` as systemd runs it: a real process, a real notify socket, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from impostor import impostor, needs_openssl, refused_impostor_sentence
from support import SAMPLE_DATA, make_jwt

from envoylog.simulator.replay import ReplayServer
from envoylog.simulator.serving import simulator_certificate_sha256

SITE = SAMPLE_DATA / "legacy-5.0-nonmetered"  # plain HTTP + digest: no token needed


@pytest.fixture
def gateway() -> Iterator[ReplayServer]:
    with ReplayServer(SITE) as server:
        yield server


def write_config(tmp_path: Path, host: str, database: str) -> Path:
    config = tmp_path / "envoylog.toml"
    config.write_text(
        f'database = "{database}"\nspool_dir = "{tmp_path / "spool"}"\n'
        # No quiet window: these tests run on the real clock, at any hour.
        'quiet_start = "00:00"\nquiet_end = "00:00"\n\n'
        "[cadence]\nproduction_json = 5\napi_v1_inverters = 5\n\n"
        f'[[gateway]]\nname = "garage"\nhost = "{host}"\n'
    )
    return config


def start_run(tmp_path: Path, config: Path, **env: str) -> subprocess.Popen[str]:
    environ = {
        **os.environ,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "ENVOYLOG_CONFIG": str(config),
        **env,
    }
    environ.pop("ENVOYLOG_DB", None)
    return subprocess.Popen(
        [sys.executable, "-m", "envoylog", "run"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def polls_in(db: Path) -> int:
    """Polls stored so far (0 while the service is still creating the schema)."""
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("select count(*) from polls")).scalar_one())
    except sa.exc.OperationalError:
        return 0
    finally:
        engine.dispose()


def wait_for(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_notifies_systemd_and_exits_0_on_sigterm(tmp_path: Path, gateway: ReplayServer) -> None:
    sock_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(sock_path))
    listener.settimeout(30)
    db = tmp_path / "run.sqlite"
    config = write_config(tmp_path, gateway.url, str(db))
    process = start_run(tmp_path, config, NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="2000000")
    try:
        messages: list[str] = []
        while not any("WATCHDOG=1" in m for m in messages):
            messages.append(listener.recv(4096).decode())
        assert messages[0].startswith("READY=1")
        wait_for(lambda: db.exists() and polls_in(db) >= 1)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        while not any("STOPPING=1" in m for m in messages):
            messages.append(listener.recv(4096).decode())
    finally:
        process.kill()
        listener.close()
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert polls_in(db) >= 1


def test_sigkill_then_restart_replays_the_spool(tmp_path: Path, gateway: ReplayServer) -> None:
    db = tmp_path / "back.sqlite"
    db.mkdir()  # not a file SQLite can open: every poll is spooled for it
    process = start_run(tmp_path, write_config(tmp_path, gateway.url, str(db)))
    spool = tmp_path / "spool"
    try:
        wait_for(lambda: len(list(spool.glob("*/*-*.json"))) >= 2)
    finally:
        process.kill()  # SIGKILL: no chance to clean up
        process.communicate(timeout=10)
    spooled = len(list(spool.glob("*/*-*.json")))
    db.rmdir()  # the database can be created now
    process = start_run(tmp_path, write_config(tmp_path, gateway.url, str(db)))
    try:
        wait_for(lambda: db.exists() and polls_in(db) > spooled)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert not list(spool.glob("*/*-*.json"))
    assert not list(spool.glob("*/.*.tmp"))  # a write cut by SIGKILL never counts as a poll


def test_bad_config_is_one_sentence(tmp_path: Path) -> None:
    config = tmp_path / "envoylog.toml"
    config.write_text('[[gateway]]\nname = "garage"\nhots = "envoy.local"\n')
    process = start_run(tmp_path, config)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "Traceback" not in output
    [line] = output.strip().splitlines()
    assert str(config) in line and "hots" in line


def test_sigterm_while_a_gateway_hangs_ends_within_30_s_and_stores_what_answered(
    tmp_path: Path,
) -> None:
    from envoylog.simulator import SimulatedGateway

    hung = "/api/v1/production/inverters"
    db = tmp_path / "hang.sqlite"
    with SimulatedGateway("legacy-5.0-nonmetered", faults=[f"hang:path={hung}"]) as gateway:
        process = start_run(tmp_path, write_config(tmp_path, gateway.url, str(db)))
        try:
            wait_for(lambda: any(r.path == hung for r in gateway.server.requests()))
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=60)
            stop_s = time.monotonic() - signalled
        finally:
            process.kill()
    assert process.returncode == 0, output
    assert stop_s < 30, output
    assert "poll_cut_at_stop gateway=garage waiting_for=/api/v1/production/inverters" in output
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        endpoints = dict(conn.execute(sa.text("select endpoint, error from poll_endpoints")).all())
        readings = conn.execute(sa.text("select count(*) from system_readings")).scalar_one()
    engine.dispose()
    assert endpoints["production_json"] is None  # answered, and stored
    assert endpoints["api_v1_inverters"].startswith("interrupted: the service stopped")
    assert readings > 0


@needs_openssl
def test_run_sends_nothing_to_an_impostor_on_the_pinned_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # as start_run gives `run`
    with impostor(tmp_path) as server:
        config = write_config(tmp_path, server.url, str(tmp_path / "run.sqlite"))
        config.write_text(config.read_text() + f'token = "{make_jwt()}"\n')
        config.chmod(0o600)
        process = start_run(tmp_path, config)
        try:
            wait_for(lambda: len(server.received) >= 2)  # the request's handshake, the check's
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
        finally:
            process.kill()

    assert process.returncode == 0, output
    assert f"error={refused_impostor_sentence(server)}" in output
    assert not server.sent_anything()


def test_a_pin_made_just_before_a_stop_is_on_file_after_it(tmp_path: Path) -> None:
    # Pins reach their file within a second (a fleet's first start pins thousands): a
    # stop within that second writes them too.
    db = tmp_path / "run.sqlite"
    with ReplayServer(SAMPLE_DATA / "metered-three-phase-device-data", tls=True) as server:
        config = write_config(tmp_path, server.url, str(db))
        process = start_run(tmp_path, config, ENVOYLOG_TOKEN=make_jwt())
        try:
            wait_for(lambda: db.exists() and polls_in(db) >= 1)
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
        finally:
            process.kill()
    assert process.returncode == 0, output
    pins = json.loads((tmp_path / "state" / "envoylog" / "pinned-certificates.json").read_text())
    assert pins == {server.url: simulator_certificate_sha256()}
