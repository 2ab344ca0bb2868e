"""Base URL, timeouts, redirects, retries and failures of GatewayClient.get."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import responses

from envoylog.client import Credentials, GatewayClient, HttpResponse, PinStore
from envoylog.errors import BadAnswer, ConfigError, GatewayTimeout, GatewayUnreachable


def test_bare_host_falls_back_from_https_to_http(rsps: responses.RequestsMock, sleep) -> None:
    rsps.get("https://envoy.local/info", body=requests.ConnectionError("refused"))
    rsps.get("http://envoy.local/info", body=b"<envoy_info/>")
    client = GatewayClient("envoy.local", sleep=sleep)

    response = client.get("/info")

    assert response.status == 200
    assert client.base_url == "http://envoy.local"
    assert sleep.calls == []  # the HTTPS probe is not retried


def test_bare_host_keeps_https_when_it_answers(rsps: responses.RequestsMock) -> None:
    rsps.get("https://127.0.0.1:8443/info", body=b"<envoy_info/>")
    rsps.get("https://127.0.0.1:8443/api/v1/production", json={"wattsNow": 1})
    client = GatewayClient("127.0.0.1:8443")

    assert client.get("/api/v1/production").status == 200
    assert client.base_url == "https://127.0.0.1:8443"
    assert [c.request.url for c in rsps.calls] == [
        "https://127.0.0.1:8443/info",
        "https://127.0.0.1:8443/api/v1/production",
    ]


def test_bare_host_does_not_settle_for_http_that_redirects_to_https(
    rsps: responses.RequestsMock,
) -> None:
    rsps.get("https://envoy.local/info", body=requests.exceptions.ReadTimeout("slow"))
    rsps.get(
        "http://envoy.local/info", status=301, headers={"Location": "https://envoy.local/info"}
    )
    client = GatewayClient("envoy.local", retries=0)

    with pytest.raises(GatewayTimeout):
        client.get("/info")
    assert client.base_url is None


def test_a_gateway_upgraded_to_https_is_followed_there(rsps: responses.RequestsMock, sleep) -> None:
    rsps.get("https://envoy.local/info", body=requests.ConnectionError("refused"))
    rsps.get("http://envoy.local/info", body=b"<envoy_info/>")
    client = GatewayClient("envoy.local", credentials=Credentials(), sleep=sleep)
    assert client.get("/info").status == 200
    assert client.base_url == "http://envoy.local"
    # A firmware push later: plain HTTP now redirects, and HTTPS answers.
    rsps.replace(responses.GET, "https://envoy.local/info", body=b"<envoy_info/>")
    rsps.get(
        "http://envoy.local/api/v1/production",
        status=301,
        headers={"Location": "https://envoy.local/api/v1/production"},
    )
    rsps.get("https://envoy.local/api/v1/production", json={"wattsNow": 1})
    response = client.get("/api/v1/production")
    assert (response.status, client.base_url) == (200, "https://envoy.local")


def test_url_host_is_used_as_given(rsps: responses.RequestsMock) -> None:
    rsps.get("http://192.168.1.5:8080/home", json={})
    client = GatewayClient("http://192.168.1.5:8080/")

    client.get("/home")

    assert client.base_url == "http://192.168.1.5:8080"
    assert len(rsps.calls) == 1


@pytest.mark.parametrize("host", ["ftp://envoy.local", "", "envoy.local/info"])
def test_unusable_host_is_a_config_error(host: str) -> None:
    with pytest.raises(ConfigError):
        GatewayClient(host)


def test_connect_timeout_deadline_streaming_and_no_verify_are_passed(
    rsps: responses.RequestsMock,
) -> None:
    rsps.get("https://envoy.local/home", json={})
    GatewayClient("https://envoy.local", connect_timeout_s=3.0, deadline_s=7.0).get("/home")

    kwargs = rsps.calls[0].request.req_kwargs
    connect_s, read_s = kwargs["timeout"]
    assert connect_s == 3.0
    assert 6.0 < read_s <= 7.0  # what is left of the deadline
    assert kwargs["verify"] is False
    assert kwargs["stream"] is True


def test_redirect_is_returned_not_followed(rsps: responses.RequestsMock) -> None:
    rsps.get("http://envoy.local/ivp/meters", status=302, headers={"Location": "/home"})
    rsps.get("http://envoy.local/home", json={})

    response = GatewayClient("http://envoy.local").get("/ivp/meters")

    assert response.status == 302
    assert response.headers["location"] == "/home"
    assert len(rsps.calls) == 1


def test_response_fields(rsps: responses.RequestsMock) -> None:
    rsps.get(
        "http://envoy.local/production.json",
        body=b'{"production": []}',
        headers={"X-Thing": "1"},
        content_type="application/json; charset=utf-8",
    )

    response = GatewayClient("http://envoy.local").get("/production.json")

    assert isinstance(response, HttpResponse)
    assert response.body == b'{"production": []}'
    assert response.content_type == "application/json"
    assert response.headers["x-thing"] == "1"
    assert response.url == "http://envoy.local/production.json"
    assert response.elapsed_ms >= 0


def test_connection_error_is_retried_with_backoff(rsps: responses.RequestsMock, sleep) -> None:
    rsps.get("http://envoy.local/home", body=requests.ConnectionError("reset"))
    rsps.get("http://envoy.local/home", body=requests.ConnectionError("reset"))
    rsps.get("http://envoy.local/home", json={})
    client = GatewayClient("http://envoy.local", retries=2, backoff_s=1.5, sleep=sleep)

    assert client.get("/home").status == 200
    assert sleep.calls == [1.5, 3.0]


def test_resource_busy_503_is_retried(rsps: responses.RequestsMock, sleep) -> None:
    rsps.get("http://envoy.local/home", status=503, body=b"Resource busy")
    rsps.get("http://envoy.local/home", json={})

    assert GatewayClient("http://envoy.local", sleep=sleep).get("/home").status == 200
    assert sleep.calls == [1.0]


def test_exhausted_retries_return_the_last_5xx(rsps: responses.RequestsMock, sleep) -> None:
    rsps.get("http://envoy.local/home", status=503)
    rsps.get("http://envoy.local/home", status=500)

    response = GatewayClient("http://envoy.local", retries=1, sleep=sleep).get("/home")

    assert response.status == 500
    assert sleep.calls == [1.0]


@pytest.mark.parametrize("status", [404, 401, 403])
def test_4xx_is_not_retried(rsps: responses.RequestsMock, sleep, status: int) -> None:
    rsps.get("http://envoy.local/ivp/meters", status=status, body=b"Error")

    response = GatewayClient("http://envoy.local", sleep=sleep).get("/ivp/meters")

    assert response.status == status
    assert len(rsps.calls) == 1
    assert sleep.calls == []


def test_unreachable_after_retries_names_the_host(rsps: responses.RequestsMock, sleep) -> None:
    rsps.get("http://10.0.0.9/home", body=requests.ConnectionError("Connection refused"))
    client = GatewayClient("http://10.0.0.9", retries=2, sleep=sleep)

    with pytest.raises(GatewayUnreachable) as caught:
        client.get("/home")

    assert "10.0.0.9" in str(caught.value)
    assert "powered on" in str(caught.value)
    assert caught.value.host == "http://10.0.0.9"
    assert isinstance(caught.value.__cause__, Exception)
    assert len(rsps.calls) == 3
    assert sleep.calls == [1.0, 2.0]


def test_read_timeout_is_gateway_timeout(rsps: responses.RequestsMock, sleep) -> None:
    rsps.get("http://envoy.local/production", body=requests.exceptions.ReadTimeout("slow"))

    with pytest.raises(GatewayTimeout, match=r"envoy\.local did not answer /production"):
        GatewayClient("http://envoy.local", retries=0, sleep=sleep).get("/production")


def test_requests_are_made_under_the_client_lock(rsps: responses.RequestsMock) -> None:
    client = GatewayClient("http://envoy.local")
    held: list[bool] = []

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        held.append(client._lock.locked())
        return 200, {}, b"{}"

    rsps.add_callback(responses.GET, "http://envoy.local/home", callback=answer)
    client.get("/home")

    assert held == [True]


def test_info_read_teaches_the_serial(rsps: responses.RequestsMock, jwt) -> None:
    rsps.get("http://envoy.local/info", body=jwt.info_xml)
    client = GatewayClient("http://envoy.local")

    client.get("/info")

    assert client.serial == jwt.serial


def test_an_info_page_that_is_not_an_envoys_teaches_nothing(rsps: responses.RequestsMock) -> None:
    rsps.get("http://envoy.local/info", body=b"<html><sn>123456789012</sn></html>")
    client = GatewayClient("http://envoy.local")

    client.get("/info")

    assert client.serial is None


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (requests.ConnectionError("refused"), GatewayUnreachable),
        (requests.exceptions.ConnectTimeout("no syn-ack"), GatewayUnreachable),
        (requests.exceptions.ReadTimeout("slow"), GatewayTimeout),
        (requests.exceptions.SSLError("handshake"), GatewayUnreachable),
        (requests.exceptions.ChunkedEncodingError("cut"), BadAnswer),
        (requests.exceptions.ContentDecodingError("not gzip"), BadAnswer),
    ],
)
def test_requests_exceptions_are_translated(
    rsps: responses.RequestsMock, raised: Exception, expected: type[Exception]
) -> None:
    rsps.get("http://envoy.local/home", body=raised)

    with pytest.raises(expected) as caught:
        GatewayClient("http://envoy.local", retries=0).get("/home")

    assert type(caught.value) is expected
    assert caught.value.__cause__ is not None


def test_pinned_https_gateway_is_not_downgraded_to_http(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    pins = PinStore(tmp_path / "pins.json")
    pins.set("https://envoy.local", "ab" * 32)
    rsps.get("https://envoy.local/info", body=requests.ConnectionError("refused"))
    rsps.get("http://envoy.local/info", body=b"<envoy_info/>")

    with pytest.raises(GatewayUnreachable):
        GatewayClient("envoy.local", pin_store=pins, retries=0).get("/info")

    assert [c.request.url for c in rsps.calls] == ["https://envoy.local/info"]


def test_unreadable_token_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.token"

    with pytest.raises(ConfigError, match=f"Cannot read the token file {missing}"):
        GatewayClient("https://envoy.local", credentials=Credentials(token_file=missing))
