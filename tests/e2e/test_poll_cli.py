"""`envoylog poll` end to end: a replayed gateway over a real socket into a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from impostor import impostor, needs_openssl, refused_impostor_sentence
from support import SAMPLE_DATA, make_jwt

from envoylog.cli import cli
from envoylog.simulator import ManualClock, SimulatedGateway
from envoylog.simulator.replay import ReplayServer

SITE = SAMPLE_DATA / "metered-three-phase-device-data"


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("ENVOYLOG_TOKEN", make_jwt())
    monkeypatch.delenv("ENVOYLOG_DB", raising=False)


def run_poll(server: ReplayServer | SimulatedGateway, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["poll", "--host", server.url, "--retries", "0", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def counts(db_url: str) -> dict[str, int]:
    engine = sa.create_engine(db_url)
    tables = ("polls", "system_readings", "meter_readings", "inverters", "inverter_readings")
    with engine.connect() as conn:
        found = {t: conn.execute(sa.text(f"select count(*) from {t}")).scalar_one() for t in tables}
    engine.dispose()
    return found


def test_poll_stores_a_whole_site_once(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A living gateway whose clock stands at our now (a recording's instants would read as
    # a gateway clock far off): the second poll sees the same gateway instants again.
    now = ManualClock(datetime.now(UTC))
    with SimulatedGateway("metered-three-phase-device-data", clock=now) as gateway:
        monkeypatch.setenv("ENVOYLOG_TOKEN", gateway.token)
        code, out = run_poll(gateway, "--db", db_url)
        assert code == 0, out
        first = counts(db_url)
        code, _ = run_poll(gateway, "--db", db_url)
        assert code == 0
    second = counts(db_url)
    assert "9 of 9 endpoints answered" in out  # /ivp/ensemble/inventory: no battery
    assert first["inverters"] == 37 and first["inverter_readings"] == 37
    assert first["meter_readings"] == 8  # 2 CTs x (whole meter + 3 phases)
    # Same gateway instants again: a new poll row, no duplicate readings.
    assert second["polls"] == 2
    assert second["meter_readings"] == first["meter_readings"]
    assert second["inverter_readings"] == first["inverter_readings"]


def test_poll_reports_failed_endpoints_and_still_stores(captures_dir: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cap.sqlite'}"
    with ReplayServer(captures_dir / "3.9.36_bad_auth") as server:
        code, out = run_poll(server, "--db", db)
    assert code == 0, out
    assert "Failed endpoints:" in out and "/api/v1/production/inverters" in out
    assert counts(db)["system_readings"] >= 1


def test_poll_into_a_non_sqlite_file_is_one_sentence(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("my notes, not a database\n")
    with ReplayServer(SITE, tls=True) as server:
        code, out = run_poll(server, "--db", str(bogus))
    assert code == 1
    assert "is not a SQLite database" in out
    assert bogus.read_text() == "my notes, not a database\n"


def test_poll_with_database_down_spools_then_replays(tmp_path: Path) -> None:
    path, spool = tmp_path / "back.sqlite", tmp_path / "spool"
    path.mkdir()  # a path SQLite cannot open: the database is unavailable
    db = f"sqlite:///{path}"
    with ReplayServer(SITE, tls=True) as server:
        code, out = run_poll(server, "--db", db, "--spool", str(spool))
        assert code == 1 and "kept in the spool" in out
        assert len(list(spool.glob("*/*-*.json"))) == 1
        path.rmdir()  # back
        code, out = run_poll(server, "--db", db, "--spool", str(spool))
    assert code == 0, out
    assert "1 earlier poll replayed from the spool" in out
    assert counts(db)["polls"] == 2 and not list(spool.glob("*/*-*.json"))


REFUSE = (
    "CREATE TRIGGER refuse BEFORE INSERT ON polls "
    "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
)


def test_a_poll_the_database_refuses_is_set_aside_and_retried_later(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'refusing.sqlite'}"
    engine = sa.create_engine(db)
    with ReplayServer(SITE, tls=True) as server:
        assert run_poll(server, "--db", db)[0] == 0
        with engine.begin() as conn:
            conn.execute(sa.text(REFUSE))  # a database that takes nothing more
        code, out = run_poll(server, "--db", db)
    assert code == 1
    assert "The poll was not stored: " in out and "refused by a trigger" in out
    assert "envoylog spool retry" in out and "next poll" not in out
    [reason] = (tmp_path / "state" / "envoylog" / "spool").glob("*/*.reason")
    assert "refused by a trigger" in reason.read_text()

    retried = CliRunner().invoke(cli, ["spool", "retry", "--db", db])
    assert retried.exit_code == 1 and "still set aside" in retried.output
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER refuse"))  # what an upgrade would fix
    retried = CliRunner().invoke(cli, ["spool", "retry", "--db", db])
    engine.dispose()
    assert retried.exit_code == 0, retried.output
    assert "1 of 1 polls stored (1 of them had been set aside)" in retried.output
    assert counts(db)["polls"] == 2


def test_poll_with_an_expired_token_exits_non_zero_and_says_why() -> None:
    from envoylog.simulator import SimulatedGateway

    expired = make_jwt(expires_in=timedelta(days=-3))
    with SimulatedGateway("modern-7.6-nonmetered") as gateway:
        result = CliRunner().invoke(
            cli, ["poll", "--host", gateway.url, "--token", expired, "--retries", "0"]
        )
    assert result.exit_code == 1, result.output
    assert "answered only /info, so this poll holds no readings" in result.output
    assert "refused the token" in result.output and "expired on" in result.output


def test_poll_says_which_endpoint_keeps_it_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    from envoylog.cli import progress
    from envoylog.simulator import SimulatedGateway

    monkeypatch.setattr(progress, "WAIT_NOTICE_S", 0.3)
    slow = "slow:seconds=1.5,path=/production.json"
    with SimulatedGateway("legacy-5.0-nonmetered", faults=[slow]) as gateway:
        result = CliRunner().invoke(cli, ["poll", "--host", gateway.url, "--retries", "0"])
    assert result.exit_code == 0, result.output
    assert "waiting for /production.json" in result.output
    assert "gives up on its endpoints after 120 s" in result.output


@needs_openssl
def test_poll_sends_nothing_to_an_impostor_on_the_pinned_address(tmp_path: Path) -> None:
    with impostor(tmp_path) as server:
        result = CliRunner().invoke(
            cli, ["poll", "--host", server.url, "--db", f"sqlite:///{tmp_path / 'p.sqlite'}"]
        )

    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith("Error: " + refused_impostor_sentence(server))
    assert "so nothing was sent to it" in line
    assert server.received and not server.sent_anything()
