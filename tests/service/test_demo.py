"""`envoylog demo`: a whole simulated day through the service path, checked against the truth."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from impostor import make_certificate, needs_openssl, server_context

from envoylog.cli import cli
from envoylog.cli import progress as bars
from envoylog.db import Writer
from envoylog.demo import DemoResult, run_demo
from envoylog.simulator import gateway as simulated
from envoylog.simulator.serving import GatewayHTTPServer, simulator_certificate_sha256

DAY = date(2026, 6, 21)


@pytest.fixture(scope="module")
def demo_day(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    db = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    return run_demo(db, profile="metered-split-phase", day=DAY)


def test_a_demo_run_again_at_its_path_stores_every_poll_it_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opening = Writer._open

    def slow_open(self: Writer, *args: Any, **kwargs: Any) -> Any:
        if self._store is None:
            time.sleep(1)  # a slow first open (a cold start): the first polls come first
        return opening(self, *args, **kwargs)

    monkeypatch.setattr(Writer, "_open", slow_open)
    db = tmp_path / "demo.sqlite"
    for _ in range(2):  # the second run makes a new database where the first one was
        result = run_demo(db, profile="metered-split-phase", day=DAY)
        assert result.rows["polls"] == result.polls
    set_aside = [p for p in tmp_path.glob("demo-spool/*-id-*/*.json") if p.name[0].isdigit()]
    assert set_aside == []


def counter_delta(db: Path, measurement: str, column: str) -> float:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        low, high = conn.execute(
            sa.text(
                f"select min(r.{column}), max(r.{column}) from meter_readings r "
                "join meters m on m.id = r.meter_id "
                "where m.measurement_type = :m and r.channel = 0"
            ),
            {"m": measurement},
        ).one()
    engine.dispose()
    return float(high - low)


def test_demo_logs_every_minute_but_the_quiet_window(demo_day: DemoResult) -> None:
    assert demo_day.quiet_ticks == 15  # 22:55-23:10 local
    assert demo_day.polls == 24 * 60 - 15 + 1  # and the poll that closes the day
    assert demo_day.rows["polls"] == demo_day.polls
    assert demo_day.rows["meter_readings"] == demo_day.polls * 2 * 3  # 2 CTs x (whole + 2 phases)


def test_demo_counters_match_the_simulators_truth(demo_day: DemoResult) -> None:
    truth = demo_day.truth_wh
    db = demo_day.db_path
    assert truth["production"] > 10_000  # a sunny June day
    assert counter_delta(db, "production", "wh_delivered") == pytest.approx(
        truth["production"], rel=1e-4
    )
    assert counter_delta(db, "net-consumption", "wh_delivered") == pytest.approx(
        truth["import"], rel=1e-4
    )
    assert counter_delta(db, "net-consumption", "wh_received") == pytest.approx(
        truth["export"], rel=1e-4
    )


def test_demo_command_prints_summary_and_next_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    result = CliRunner().invoke(
        cli, ["demo", "--profile", "metered-no-cts", "--date", "2026-06-21"]
    )
    assert result.exit_code == 0, result.output
    assert "Logged Sunday 21 June 2026 (America/Denver)" in result.output
    assert f"Database: {tmp_path / 'envoylog' / 'demo.sqlite'}" in result.output
    assert "Try next:" in result.output


def test_demo_on_a_terminal_shows_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bars, "is_terminal", lambda stream: True)
    monkeypatch.setattr(bars, "SHOW_AFTER_S", 0.0)
    db = tmp_path / "demo.sqlite"
    args = ["demo", "--profile", "metered-no-cts", "--date", "2026-06-21", "--db", str(db)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Logging simulated minutes" in result.stderr


def test_demo_rollup_matches_the_simulators_truth(demo_day: DemoResult) -> None:
    logged, truth = demo_day.energy[DAY], demo_day.truth_days[DAY]
    assert logged["coverage"] == pytest.approx(1.0)
    for column, flow in (
        ("production_wh", "production"),
        ("consumption_wh", "consumption"),
        ("import_wh", "import"),
        ("export_wh", "export"),
    ):
        assert logged[column] == pytest.approx(truth[flow], rel=1e-3), flow


@needs_openssl
def test_demo_sends_nothing_to_a_simulator_with_another_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    cert, key, impostor_sha256 = make_certificate(tmp_path, "impostor")
    monkeypatch.setattr(simulated, "simulator_tls_context", lambda: server_context(cert, key))
    received: list[object] = []
    monkeypatch.setattr(
        GatewayHTTPServer, "record", lambda server, request: received.append(request)
    )

    result = CliRunner().invoke(cli, ["demo", "--date", "2026-06-21"])

    assert result.exit_code == 1
    last = result.output.splitlines()[-1]
    assert last.startswith("Error: Gateway https://127.0.0.1:")
    assert f"presented a TLS certificate (sha256 {impostor_sha256})" in last
    assert f"other than the one pinned for it (sha256 {simulator_certificate_sha256()})" in last
    assert received == []  # not one request, let alone its Authorization header
