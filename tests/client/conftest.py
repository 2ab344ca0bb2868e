"""Fixtures for the HTTP client tests: mocked HTTP, a recording sleep, JWTs.

`responses` mocks requests' adapters, so the client under test is the production one down
to the socket; what only sockets show (keep-alive, deadlines, framing, pinning) is tested
over real ones in test_transport.py and test_pinning.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from support import make_jwt

INFO_XML = (
    b"<?xml version='1.0' encoding='UTF-8'?><envoy_info><device>"
    b"<sn>122233445566</sn><pn>800-00555-r03</pn><software>D7.6.175</software>"
    b"<imeter>true</imeter></device></envoy_info>"
)
SERIAL = "122233445566"


class RecordingSleep:
    """Stands in for time.sleep: remembers the waits, never waits."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(autouse=True)
def no_token_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVOYLOG_TOKEN", raising=False)


@pytest.fixture
def jwt() -> type[_Jwt]:
    """`jwt.make(expires_in)`: build a token; fixtures are how tests share helpers here."""
    return _Jwt


class _Jwt:
    make = staticmethod(make_jwt)
    serial = SERIAL
    info_xml = INFO_XML
