"""The battery endpoints are read only where the gateway has batteries (QUIRKS 27)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from fakes import INFO, PRODUCTION, Answer, FakeGateway

from envoylog.poller import GatewayState, poll_once
from envoylog.records import GatewayInfo

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
INVENTORY = (
    b'[{"type":"ENCHARGE","devices":[{"serial_num":"492320000140","percentFull":39,'
    b'"last_rpt_date":1717243000,"encharge_capacity":5000}]}]'
)
POWER = b'{"devices:":[{"serial_num":"492320000140","real_power_mw":-1324000,"soc":39}]}'
SECCTRL = b'{"agg_soc":39,"Max_energy":5000,"Enc_commissioned_capacity":5000}'
ACB_PRODUCTION = (
    b'{"production":[],"storage":[{"type":"acb","activeCount":2,"readingTime":1717243000,'
    b'"wNow":-490,"whNow":1200,"state":"charging","percentFull":50}]}'
)
BATTERY_PATHS = (
    "/ivp/ensemble/inventory",
    "/ivp/ensemble/power",
    "/ivp/ensemble/secctrl",
    "/inventory.json?deleted=1",
)


def gateway(**answers: Answer) -> FakeGateway:
    table: dict[str, Answer | Exception] = {
        "/info": Answer(200, INFO, "text/xml"),
        "/production.json?details=1": Answer(200, PRODUCTION),
    }
    paths = dict(zip(("inventory", "power", "secctrl", "acb"), BATTERY_PATHS, strict=True))
    table |= {paths.get(name, name): answer for name, answer in answers.items()}
    return FakeGateway(table)


def asked_for_batteries(fake: FakeGateway) -> list[str]:
    return [path for path in fake.asked if path in BATTERY_PATHS]


def test_a_gateway_with_iq_batteries_is_read_for_each_battery_endpoint() -> None:
    fake = gateway(
        inventory=Answer(200, INVENTORY), power=Answer(200, POWER), secctrl=Answer(200, SECCTRL)
    )
    state = GatewayState(host="h")
    poll_once(fake, state, clock=lambda: NOW)
    assert asked_for_batteries(fake) == list(BATTERY_PATHS[:3])
    assert state.iq_batteries is True


def test_an_empty_inventory_stops_the_battery_endpoints_for_good() -> None:
    fake = gateway(inventory=Answer(200, b"[]"))
    state = GatewayState(host="h")
    poll_once(fake, state, clock=lambda: NOW)
    poll_once(fake, state, clock=lambda: NOW)
    assert asked_for_batteries(fake) == ["/ivp/ensemble/inventory"]
    assert state.iq_batteries is False


def test_a_401_or_404_inventory_is_no_battery_and_no_failure() -> None:
    for status in (401, 404):
        fake = gateway(inventory=Answer(status, b"<html><title>401</title></html>", "text/html"))
        state = GatewayState(host="h")
        result = poll_once(fake, state, clock=lambda: NOW)
        (inventory,) = [r for r in result.endpoints if r.endpoint == "ensemble_inventory"]
        assert (inventory.ok, inventory.http_status, inventory.records) == (True, status, ())
        assert state.iq_batteries is False


def test_an_empty_inventory_once_batteries_were_seen_does_not_stop_their_reading() -> None:
    fake = gateway(inventory=Answer(200, INVENTORY), power=Answer(200, POWER))
    state = GatewayState(host="h")
    poll_once(fake, state, clock=lambda: NOW)
    fake.table["/ivp/ensemble/inventory"] = Answer(200, b"[]")
    poll_once(fake, state, clock=lambda: NOW)
    poll_once(fake, state, clock=lambda: NOW)
    assert state.iq_batteries is True
    assert fake.asked.count("/ivp/ensemble/power") == 3


def test_a_failed_inventory_is_asked_again() -> None:
    fake = gateway(inventory=Answer(500, b"oops", "text/plain"))
    state = GatewayState(host="h")
    poll_once(fake, state, clock=lambda: NOW)
    poll_once(fake, state, clock=lambda: NOW)
    assert asked_for_batteries(fake) == ["/ivp/ensemble/inventory"] * 2
    assert state.iq_batteries is None


def test_after_a_firmware_change_the_gateway_is_asked_again() -> None:
    fake = gateway(inventory=Answer(200, b"[]"))
    state = GatewayState(host="h")
    poll_once(fake, state, clock=lambda: NOW)
    assert state.info is not None
    state.learn([dataclasses.replace(state.info, firmware="8.2.4382")])
    assert state.iq_batteries is None
    poll_once(fake, state, clock=lambda: NOW)
    assert asked_for_batteries(fake) == ["/ivp/ensemble/inventory"] * 2


def test_ac_batteries_in_production_json_bring_their_inventory_and_aggregates() -> None:
    fake = gateway(
        **{"/production.json?details=1": Answer(200, ACB_PRODUCTION)},
        inventory=Answer(200, b"[]"),
        secctrl=Answer(
            200, b'{"agg_soc":18,"Max_energy":412,"ACB_agg_soc":18,"ACB_agg_energy":446}'
        ),
        acb=Answer(200, b'[{"type":"ACB","devices":[]}]'),
    )
    state = GatewayState(host="h")
    poll_once(fake, state, clock=lambda: NOW)
    assert state.ac_batteries is True
    assert asked_for_batteries(fake) == [
        "/ivp/ensemble/inventory",
        "/ivp/ensemble/secctrl",
        "/inventory.json?deleted=1",
    ]


def test_firmware_before_7_is_not_asked_for_the_ensemble() -> None:
    old = INFO.replace(b"D7.6.175", b"D5.0.62")
    fake = gateway(**{"/info": Answer(200, old, "text/xml")})
    state = GatewayState(host="h")
    poll_once(fake, state, clock=lambda: NOW)
    assert isinstance(state.info, GatewayInfo) and state.info.firmware == "5.0.62"
    assert asked_for_batteries(fake) == []
