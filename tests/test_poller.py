"""poll_once: one bad endpoint never loses the rest of the poll."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from fakes import INFO, METERS, PRODUCTION, Answer, FakeGateway

from envoylog import endpoints as ep
from envoylog.errors import AuthError, GatewayTimeout, GatewayUnreachable, NotAnEnvoy, TokenError
from envoylog.poller import INTERRUPTED, STOPPING, GatewayState, PollControl, plan, poll_once
from envoylog.records import MeterConfig, PollResult, PollStatus, SystemReading

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def poll(gateway: FakeGateway) -> tuple[GatewayState, list[str]]:
    state = GatewayState(host="envoy.test")
    result = poll_once(gateway, state, clock=lambda: NOW)
    return state, [f"{r.endpoint}:{'ok' if r.ok else 'failed'}" for r in result.endpoints]


def test_failed_endpoint_keeps_the_rest() -> None:
    gateway = FakeGateway(
        {
            "/info": Answer(200, INFO, "text/xml"),
            "/production.json?details=1": Answer(200, PRODUCTION),
            "/ivp/meters": Answer(200, b"<html>Page Not Found</html>", "application/json"),
        }
    )
    state = GatewayState(host="envoy.test")
    result = poll_once(gateway, state, clock=lambda: NOW)
    by_name = {r.endpoint: r for r in result.endpoints}
    assert by_name["meters"].parse_failed and by_name["meters"].body
    assert [type(r) for r in by_name["production_json"].records] == [SystemReading]
    assert result.status is PollStatus.PARTIAL


def test_http_error_is_recorded_with_status() -> None:
    gateway = FakeGateway({"/info": Answer(200, INFO, "text/xml")})
    result = poll_once(gateway, GatewayState(host="h"), clock=lambda: NOW)
    home = next(r for r in result.endpoints if r.endpoint == "home")
    assert (home.http_status, home.error) == (404, "HTTP 404 from /home")


def test_unreachable_gateway_skips_remaining_endpoints_without_asking() -> None:
    gateway = FakeGateway(
        {
            "/info": Answer(200, INFO, "text/xml"),
            "/home": GatewayUnreachable("envoy.test refused the connection"),
        }
    )
    _, outcome = poll(gateway)
    assert gateway.asked == ["/info", "/home"]
    assert outcome[0] == "info:ok"
    assert all(o.endswith(":failed") for o in outcome[1:])


def test_one_slow_endpoint_does_not_stop_the_others() -> None:
    gateway = FakeGateway(
        {
            "/info": Answer(200, INFO, "text/xml"),
            "/home": GatewayTimeout("envoy.test did not answer /home within 45 s"),
            "/production.json?details=1": Answer(200, PRODUCTION),
        }
    )
    _, outcome = poll(gateway)
    assert "home:failed" in outcome and "production_json:ok" in outcome


def test_unidentified_gateway_raises_one_sentence() -> None:
    gateway = FakeGateway({"/info": Answer(200, b"<html>Welcome to nginx</html>", "text/html")})
    with pytest.raises(NotAnEnvoy, match="did not identify itself as an Enphase gateway"):
        poll(gateway)


def test_meter_readings_not_planned_when_every_ct_is_disabled() -> None:
    state = GatewayState(host="h")
    state.meters = (MeterConfig(eid=1, measurement_type="production", state="disabled"),)
    assert ep.METER_READINGS not in plan(state)


def test_meters_learnt_in_a_poll_feed_the_readings_parser() -> None:
    gateway = FakeGateway(
        {"/info": Answer(200, INFO, "text/xml"), "/ivp/meters": Answer(200, METERS)}
    )
    state, outcome = poll(gateway)
    assert state.meters is not None and state.meters[0].eid == 704643328
    # The only CT is disabled, so its readings were not even asked for.
    assert "/ivp/meters/readings" not in gateway.asked
    assert "meters:ok" in outcome


def test_firmware_gates_device_data() -> None:
    state = GatewayState(host="h")
    gateway = FakeGateway({"/info": Answer(200, INFO, "text/xml")})
    poll_once(gateway, state, clock=lambda: NOW)
    assert "/ivp/pdm/device_data" not in gateway.asked
    assert "/production" not in gateway.asked


def test_refused_token_skips_the_rest_but_refused_digest_does_not() -> None:
    token = FakeGateway(
        {"/info": Answer(200, INFO, "text/xml"), "/home": TokenError("token refused")}
    )
    _, outcome = poll(token)
    assert token.asked == ["/info", "/home"] and outcome[-1].endswith(":failed")

    digest = FakeGateway(
        {
            "/info": Answer(200, INFO, "text/xml"),
            "/ivp/meters": AuthError("digest login refused"),
            "/production.json?details=1": Answer(200, PRODUCTION),
        }
    )
    _, outcome = poll(digest)
    assert "meters:failed" in outcome and "production_json:ok" in outcome


class SlowGateway(FakeGateway):
    """Every answer takes ``step_s`` of the given clock (no real waiting)."""

    def __init__(self, table: dict[str, Answer | Exception], clock: list[float], step_s: float):
        super().__init__(table)
        self.clock, self.step_s = clock, step_s

    def get(self, path: str) -> Answer:
        self.clock[0] += self.step_s
        return super().get(path)


SITE = {
    "/info": Answer(200, INFO, "text/xml"),
    "/production.json?details=1": Answer(200, PRODUCTION),
    "/ivp/meters": Answer(200, METERS),
}


def test_a_spent_poll_deadline_asks_no_further_endpoint_and_says_so() -> None:
    monotonic = [0.0]
    gateway = SlowGateway(SITE, monotonic, step_s=25)
    control = PollControl(deadline_s=60, monotonic=lambda: monotonic[0])
    result = poll_once(gateway, GatewayState(host="h"), clock=lambda: NOW, control=control)
    assert gateway.asked == ["/info", "/home", "/ivp/meters"]  # 75 s by the third answer
    skipped = [e for e in result.endpoints if not e.http_status]
    assert skipped and all(
        e.error == "not asked: the poll's deadline of 60 s was spent" for e in skipped
    )


def test_a_stop_asks_no_further_endpoint() -> None:
    stop = threading.Event()

    class Stopping(FakeGateway):
        def get(self, path: str) -> Answer:
            if path == "/home":
                stop.set()  # the service is told to stop while /home is being read
            return super().get(path)

    gateway = Stopping(SITE)
    control = PollControl(stop=stop)
    result = poll_once(gateway, GatewayState(host="h"), clock=lambda: NOW, control=control)
    assert gateway.asked == ["/info", "/home"]
    assert {e.error for e in result.endpoints[2:]} == {STOPPING}


class HangingGateway(FakeGateway):
    """Holds /production.json until released, like a gateway that never answers."""

    def __init__(self) -> None:
        super().__init__(SITE)
        self.entered, self.release = threading.Event(), threading.Event()

    def get(self, path: str) -> Answer:
        if path.startswith("/production.json"):
            self.entered.set()
            assert self.release.wait(10)
        return super().get(path)


def test_a_poll_cut_while_a_request_hangs_keeps_what_answered() -> None:
    gateway = HangingGateway()
    control = PollControl()
    polled: list[PollResult] = []
    thread = threading.Thread(
        target=lambda: polled.append(poll_once(gateway, GatewayState(host="h"), control=control))
    )
    thread.start()
    assert gateway.entered.wait(10)
    cut = control.cut()
    gateway.release.set()
    thread.join(10)
    assert cut is not None
    by_name = {e.endpoint: e for e in cut.endpoints}
    assert by_name["info"].ok and by_name["meters"].ok
    assert by_name["production_json"].error == INTERRUPTED
    assert all(e.error == STOPPING for e in cut.endpoints[5:])
    assert not control.take()  # the poll's own thread hands nothing over: it was cut
    assert polled  # and it still ended by itself once answered


def test_a_gateway_polled_elsewhere_is_asked_nothing_after_info_and_cannot_be_cut() -> None:
    gateway = FakeGateway(SITE)
    claimed: list[str] = []
    control = PollControl(claim=lambda serial: claimed.append(serial) or "envoylog/other/7")
    result = poll_once(gateway, GatewayState(host="h"), clock=lambda: NOW, control=control)
    assert gateway.asked == ["/info"]  # its serial is learnt there
    assert claimed == ["122000000001"]  # asked once for the whole poll
    assert control.elsewhere == "envoylog/other/7"
    assert {e.error for e in result.endpoints[1:]} == {
        "not asked: polled by another envoylog process (envoylog/other/7)"
    }
    assert control.cut() is None  # nothing of it is handed over at stop either


def test_an_identified_gateway_polled_elsewhere_is_asked_nothing() -> None:
    state = GatewayState(host="h")
    poll_once(FakeGateway(SITE), state, clock=lambda: NOW)  # identified by an earlier poll
    gateway = FakeGateway(SITE)
    control = PollControl(claim=lambda serial: "envoylog/other/7")
    poll_once(gateway, state, endpoints=list(ep.ALL), clock=lambda: NOW, control=control)
    assert gateway.asked == []
