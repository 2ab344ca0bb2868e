"""Every default is declared once: what the docs say is what code built without a file uses."""

from __future__ import annotations

from pathlib import Path

from config_support import WriteConfig
from fakes import FakeGateway

from envoylog import endpoints
from envoylog.config import GatewaySettings, load_settings
from envoylog.db import Spool
from envoylog.db.store import StoreOptions
from envoylog.service.jobs import GatewayJob, QuietWindow
from envoylog.service.worker import ROLLUP_INTERVAL_S

DEFAULTS = load_settings(None, {})


def test_the_quiet_window_is_the_documented_one() -> None:
    assert QuietWindow() == QuietWindow(DEFAULTS.quiet_start, DEFAULTS.quiet_end)


def test_a_job_backs_off_at_most_the_documented_time() -> None:
    job = GatewayJob(name="g", client=FakeGateway({}), submit=lambda poll: None, cadences={})
    assert job.max_backoff_s == DEFAULTS.max_backoff_s


def test_the_store_worker_rolls_up_at_the_documented_interval() -> None:
    assert DEFAULTS.rollup_interval_s == ROLLUP_INTERVAL_S


def test_the_store_options_are_the_documented_ones() -> None:
    assert StoreOptions() == DEFAULTS.store_options()


def test_the_spool_cap_is_the_documented_one(tmp_path: Path) -> None:
    assert Spool(tmp_path, "sqlite:///e.sqlite").max_bytes == DEFAULTS.spool_max_bytes


def test_the_cadences_are_the_endpoint_registrys() -> None:
    for endpoint in endpoints.ALL:
        assert DEFAULTS.cadences[endpoint.name] == endpoint.cadence_s
        if endpoint.cadence_with_cts_s is not None:
            assert DEFAULTS.cadences[endpoint.with_cts_key] == endpoint.cadence_with_cts_s


def test_a_gateway_built_in_code_is_enabled_as_one_read_from_a_file(
    write_config: WriteConfig,
) -> None:
    (read,) = load_settings(
        write_config('[[gateway]]\nname = "home"\nhost = "envoy.local"\n')
    ).gateways
    assert GatewaySettings(name="home", host="envoy.local").enabled == read.enabled
