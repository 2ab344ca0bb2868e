"""A body holding values no column can store costs its endpoint, never the poll or the store."""

from __future__ import annotations

import shutil
from pathlib import Path

from db_queries import rows
from support import SAMPLE_DATA, fetched_at, make_jwt

from envoylog.client import Credentials, GatewayClient
from envoylog.db import Store, save_poll
from envoylog.poller import GatewayState, poll_once
from envoylog.records import PollResult
from envoylog.simulator.replay import ReplayServer

SITE = "metered-split-phase"


def hostile_copy(tmp_path: Path) -> Path:
    """The sample site with an activeCount beyond 64 bits, a serial of 52 characters and a NUL."""
    folder = tmp_path / SITE
    shutil.copytree(SAMPLE_DATA / SITE, folder)

    def rewrite(name: str, old: bytes, new: bytes) -> None:
        body = (folder / name).read_bytes()
        assert old in body
        (folder / name).write_bytes(body.replace(old, new, 1))

    rewrite("production.json_details_1", b'"activeCount":20', b'"activeCount":9223372036854775808')
    rewrite("api_v1_production_inverters", b'"serialNumber": "', b'"serialNumber": "' + b"9" * 40)
    rewrite("ivp_meters", b'"enabled"', b'"enabled\\u0000"')
    return folder


def poll(folder: Path) -> PollResult:
    at = fetched_at(folder)
    with ReplayServer(folder, tls=True) as server:
        client = GatewayClient(server.url, credentials=Credentials(token=make_jwt()), retries=0)
        try:
            return poll_once(client, GatewayState(host=server.url), clock=lambda: at)
        finally:
            client.close()


def test_unstorable_values_fail_their_endpoints_and_the_rest_is_stored(
    tmp_path: Path, store: Store
) -> None:
    result = poll(hostile_copy(tmp_path))

    save_poll(store, result)

    failed = dict(rows(store, "SELECT endpoint, error FROM poll_endpoints WHERE error IS NOT NULL"))
    assert set(failed) == {"production_json", "api_v1_inverters", "meters"}
    assert (
        "activeCount: 9223372036854775808 is not a gateway's device count"
        in (failed["production_json"])
    )
    assert (
        "serialNumber: 52 characters, more than its column holds (32)"
        in (failed["api_v1_inverters"])
    )
    assert "state: holds a NUL character" in failed["meters"]
    assert rows(store, "SELECT count(*) FROM system_readings WHERE source = 'api_v1'") == [(1,)]
    assert rows(store, "SELECT count(*) FROM raw_bodies WHERE endpoint = 'meters'") == [(1,)]
