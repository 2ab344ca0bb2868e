"""Gateway claims on a real PostgreSQL: one advisory lock per serial, held by one process;
the other is told who holds it, takes it over when the owner is gone, and polls anyway
when the database cannot be asked."""

from __future__ import annotations

import logging
import time

import pytest
from pg_server import PostgresServer, free_port

from envoylog.db import EngineOptions
from envoylog.db.claims import GatewayClaims, lock_key

pytestmark = pytest.mark.postgres

SERIAL = "122000000001"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def claims(url: str, name: str, clock: Clock | None = None, **kwargs: float) -> GatewayClaims:
    options = EngineOptions(connect_timeout_s=2)
    return GatewayClaims(url, options, name=name, monotonic=clock or Clock(), **kwargs)


def terminate(server: PostgresServer, name: str) -> None:
    """End the claims' session from the server's side, as a database restart does."""
    for pid in server.sessions(name):
        server.execute(f"SELECT pg_terminate_backend({pid}, 5000)")  # waits for its end


def test_the_lock_key_is_a_stable_signed_64_bit_hash() -> None:
    # Processes of different versions must agree on it: the value is part of the contract.
    assert lock_key(SERIAL) == lock_key(SERIAL) == -5_214_137_897_027_700_202
    assert lock_key("122000000002") != lock_key(SERIAL)
    assert all(-(2**63) <= lock_key(str(n)) < 2**63 for n in range(1000))


def test_the_first_process_claims_and_the_second_is_told_who_holds_it(pg_url: str) -> None:
    first, second = claims(pg_url, "envoylog/a/1"), claims(pg_url, "envoylog/b/2")
    try:
        assert first.claim(SERIAL, gateway="roof") is None
        assert second.claim(SERIAL, gateway="roof") == "envoylog/a/1"
        assert second.claim("122000000002", gateway="barn") is None  # another gateway: its own
        assert first.owned() == {SERIAL} and second.owned() == {"122000000002"}
    finally:
        first.close()
        second.close()


def test_the_refused_process_says_so_once(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    first, second = claims(pg_url, "envoylog/a/1"), claims(pg_url, "envoylog/b/2")
    caplog.set_level(logging.WARNING, logger="envoylog.db.claims")
    try:
        first.claim(SERIAL, gateway="roof")
        for _ in range(3):  # three ticks
            second.claim(SERIAL, gateway="roof")
    finally:
        first.close()
        second.close()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [f"gateway_polled_elsewhere gateway=roof serial={SERIAL} by=envoylog/a/1"]


def test_closing_the_owner_lets_the_other_take_the_gateway_over(
    pg_server: PostgresServer, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = claims(pg_url, "envoylog/a/1"), claims(pg_url, "envoylog/b/2")
    caplog.set_level(logging.WARNING, logger="envoylog.db.claims")
    try:
        first.claim(SERIAL, gateway="roof")
        assert second.claim(SERIAL, gateway="roof") is not None
        first.close()  # its session ends: PostgreSQL releases the lock
        pg_server.wait_closed("envoylog/a/1")
        assert second.claim(SERIAL, gateway="roof") is None
        assert second.owned() == {SERIAL}
    finally:
        first.close()
        second.close()
    assert caplog.records[-1].getMessage() == f"gateway_taken_over gateway=roof serial={SERIAL}"


def test_a_closed_claims_object_claims_nothing_and_holds_nothing(pg_url: str) -> None:
    first = claims(pg_url, "envoylog/a/1")
    first.claim(SERIAL, gateway="roof")
    first.close()
    assert first.claim("122000000002", gateway="barn") is None  # polls: the service stops
    other = claims(pg_url, "envoylog/b/2")
    try:
        assert other.claim("122000000002", gateway="barn") is None
        assert other.owned() == {"122000000002"}
    finally:
        other.close()


def test_an_unreachable_database_grants_every_claim_and_says_so_once(
    caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"  # nothing listens
    caplog.set_level(logging.WARNING, logger="envoylog.db.claims")
    unreachable = claims(url, "envoylog/a/1", clock)
    try:
        for tick in range(3):
            clock.now += 60 * tick  # each tick asks again once the retry is due
            assert unreachable.claim(SERIAL, gateway="roof") is None
            assert unreachable.claim("122000000002", gateway="barn") is None
    finally:
        unreachable.close()
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("gateway_claims_unavailable error=PostgreSQL database")
    assert "every gateway configured here is polled" in line
    assert unreachable.owned() == set()


def test_an_owned_gateway_is_answered_from_memory_between_checks(
    pg_server: PostgresServer, pg_url: str, clock: Clock
) -> None:
    owner = claims(pg_url, "envoylog/a/1", clock)
    try:
        owner.claim(SERIAL, gateway="roof")
        terminate(pg_server, "envoylog/a/1")
        clock.now += 29  # within the check interval: no call on the database
        assert owner.claim(SERIAL, gateway="roof") is None
        assert pg_server.sessions("envoylog/a/1") == []  # not even a reconnection
    finally:
        owner.close()


def test_a_lost_connection_is_made_again_and_what_was_owned_claimed_again(
    pg_server: PostgresServer, pg_url: str, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    owner, other = claims(pg_url, "envoylog/a/1", clock), claims(pg_url, "envoylog/b/2")
    caplog.set_level(logging.WARNING, logger="envoylog.db.claims")
    try:
        owner.claim(SERIAL, gateway="roof")
        owner.claim("122000000002", gateway="barn")
        terminate(pg_server, "envoylog/a/1")  # the locks are gone with the session
        clock.now += 31  # the next claim proves the connection, finds it lost, reconnects
        assert owner.claim(SERIAL, gateway="roof") is None
        assert len(pg_server.sessions("envoylog/a/1")) == 1
        assert owner.owned() == {SERIAL, "122000000002"}
        assert other.claim("122000000002", gateway="barn") == "envoylog/a/1"  # held again
    finally:
        owner.close()
        other.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "envoylog.db.claims"]
    assert lines[0].startswith("gateway_claims_unavailable")
    assert lines[1] == "gateway_claims_available claimed=2"


def test_a_gateway_taken_while_the_connection_was_lost_is_said_polled_elsewhere(
    pg_server: PostgresServer, pg_url: str, clock: Clock
) -> None:
    owner, other = claims(pg_url, "envoylog/a/1", clock), claims(pg_url, "envoylog/b/2")
    try:
        owner.claim(SERIAL, gateway="roof")
        terminate(pg_server, "envoylog/a/1")
        assert other.claim(SERIAL, gateway="roof") is None  # free meanwhile: taken
        clock.now += 31
        assert owner.claim(SERIAL, gateway="roof") == "envoylog/b/2"
        assert owner.owned() == set()
    finally:
        owner.close()
        other.close()


def test_a_frozen_database_grants_the_claim_within_the_timeout(
    private_pg: PostgresServer, clock: Clock
) -> None:
    owner = claims(private_pg.create_database("frozen"), "envoylog/a/1", clock, timeout_s=1.0)
    try:
        owner.claim(SERIAL, gateway="roof")
        private_pg.freeze()
        clock.now += 31  # the connection is due for its check
        started = time.monotonic()
        assert owner.claim(SERIAL, gateway="roof") is None
        assert owner.claim("122000000002", gateway="barn") is None  # not asked again yet
        waited = time.monotonic() - started
    finally:
        private_pg.thaw()
        owner.close()
    # Cut at 1 s, then one reconnection attempt (libpq counts at least 2 s).
    assert waited < 5
