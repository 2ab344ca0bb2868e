"""The replay server over a real loopback socket."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from requests.auth import HTTPDigestAuth

from envoylog.cli import cli
from envoylog.errors import ConfigError
from envoylog.simulator import ReplayServer
from envoylog.simulator.replay import file_name_for

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "envoy-captures"
SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
INFO = b"<?xml version='1.0'?>\n<envoy_info><device><sn>121547060611</sn></device></envoy_info>\n"

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "info").write_bytes(INFO)
    (tmp_path / "production.json").write_text('{"production": []}')
    (tmp_path / "ivp_meters_readings").write_text("[]")
    (tmp_path / "home").write_text("<html>not json</html>")
    (tmp_path / "api_v1_production").write_text('{"wattsNow": 1}')
    (tmp_path / "api_v1_production_log.json").write_text(
        json.dumps(
            {
                "code": 503,
                "headers": {
                    "content-type": "text/plain",
                    "transfer-encoding": "chunked",
                    "connection": "keep-alive",
                    "x-frame-options": "DENY",
                },
            }
        )
    )
    return tmp_path


@pytest.fixture
def server(folder: Path) -> Iterator[ReplayServer]:
    with ReplayServer(folder) as running:
        yield running


def get(server: ReplayServer, path: str, **kwargs: object) -> requests.Response:
    return requests.get(server.url + path, timeout=5, allow_redirects=False, verify=False, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("target", "name"),
    [
        ("/ivp/meters/readings", "ivp_meters_readings"),
        ("/production.json?details=1", "production.json_details_1"),
        ("/info", "info"),
        ("/api/v1/production/inverters", "api_v1_production_inverters"),
    ],
)
def test_file_name_follows_the_captures_convention(target: str, name: str) -> None:
    assert file_name_for(target) == name


def test_serves_a_file_by_path(server: ReplayServer) -> None:
    response = get(server, "/ivp/meters/readings")
    assert (response.status_code, response.text) == (200, "[]")
    assert response.headers["Content-Type"] == "application/json"


def test_details_query_falls_back_to_the_plain_file(server: ReplayServer) -> None:
    response = get(server, "/production.json?details=1")
    assert response.json() == {"production": []}


def test_content_type_is_guessed_without_a_log(server: ReplayServer) -> None:
    assert get(server, "/info").headers["Content-Type"] == "text/xml"
    assert get(server, "/home").headers["Content-Type"] == "text/html"


def test_status_and_headers_come_from_the_log_file(server: ReplayServer) -> None:
    response = get(server, "/api/v1/production")
    assert response.status_code == 503
    assert response.headers["x-frame-options"] == "DENY"
    assert "transfer-encoding" not in response.headers
    assert response.headers["Content-Length"] == str(len(response.content))


def test_missing_file_is_a_gateway_style_404(server: ReplayServer) -> None:
    response = get(server, "/ivp/pdm/device_data")
    assert (response.status_code, response.text) == (404, '{"error": "404 - Not Found"}')


def test_log_files_are_not_served_as_endpoints(server: ReplayServer) -> None:
    assert get(server, "/api/v1/production_log.json").status_code == 404


def test_check_jwt_accepts_any_bearer_token(server: ReplayServer) -> None:
    response = get(server, "/auth/check_jwt", headers={"Authorization": "Bearer abc"})
    assert (response.status_code, response.text) == (200, "<!DOCTYPE html><h2>Valid token.</h2>")


def test_check_jwt_without_token_is_401(server: ReplayServer) -> None:
    assert get(server, "/auth/check_jwt").status_code == 401


def test_requests_are_recorded_with_headers(server: ReplayServer) -> None:
    get(server, "/info?x=1", headers={"X-Test": "yes"})
    recorded = server.requests[-1]
    assert (recorded.method, recorded.path, recorded.headers["X-Test"]) == (
        "GET",
        "/info?x=1",
        "yes",
    )


def test_tls_serves_with_the_simulator_certificate(folder: Path) -> None:
    with ReplayServer(folder, tls=True) as server:
        assert server.url == f"https://127.0.0.1:{server.port}"
        assert get(server, "/ivp/meters/readings").text == "[]"


def test_folder_without_info_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no 'info' file"):
        ReplayServer(tmp_path)


@pytest.mark.skipif(not CAPTURES.is_dir(), reason="../shared/envoy-captures is not present")
def test_capture_401_is_replayed_with_its_body() -> None:
    with ReplayServer(CAPTURES / "3.8.10") as server:
        response = get(server, "/ivp/meters")
    assert (response.status_code, response.text.strip()) == (401, "Error: 401")
    assert response.headers["www-authenticate"].startswith("Digest")


def test_sample_bearer_endpoint_needs_a_token() -> None:
    with ReplayServer(SAMPLES / "metered-split-phase", tls=True) as server:
        assert get(server, "/ivp/meters").status_code == 401
        assert get(server, "/info").status_code == 200
        authorised = get(server, "/ivp/meters", headers={"Authorization": "Bearer t"})
    assert authorised.status_code == 200
    assert authorised.json()[0]["eid"] == 704643328


def test_sample_digest_endpoint_accepts_envoy_and_serial_digits() -> None:
    with ReplayServer(SAMPLES / "legacy-5.0-nonmetered") as server:
        refused = get(server, "/api/v1/production/inverters")
        wrong = get(server, "/api/v1/production/inverters", auth=HTTPDigestAuth("envoy", "000000"))
        right = get(server, "/api/v1/production/inverters", auth=HTTPDigestAuth("envoy", "060611"))
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Digest")
    assert wrong.status_code == 401
    assert (right.status_code, len(right.json())) == (200, 24)


def test_the_readme_replay_example_polls_with_the_token_the_replay_gives(tmp_path: Path) -> None:
    with ReplayServer(SAMPLES / "metered-split-phase", tls=True) as server:
        server.start()
        token = requests.get(f"{server.url}/__sim/token", verify=False, timeout=5).text
        db = tmp_path / "replay.sqlite"
        args = ["poll", "--host", server.url, "--token", token, "--db", f"sqlite:///{db}"]
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as conn:
        statuses = dict(conn.execute("select endpoint, http_status from poll_endpoints"))
    assert 401 not in statuses.values()
    assert statuses["meter_readings"] == 200
