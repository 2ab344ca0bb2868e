"""Each mistake in the file stops loading with one sentence naming the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_support import WriteConfig, private_file

from envoylog.config import load_settings
from envoylog.errors import ConfigError

GATEWAY = '[[gateway]]\nname = "home"\nhost = "envoy.local"\n'


def error_for(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)) and message.endswith(".")
    return message


def test_minimal_file_loads_with_defaults(write_config: WriteConfig) -> None:
    settings = load_settings(write_config(GATEWAY), environ={})
    (gateway,) = settings.gateways
    assert (gateway.name, gateway.host, gateway.enabled) == ("home", "envoy.local", True)
    assert settings.cadences["meter_readings"] == 60 == gateway.cadences["meter_readings"]
    assert f"{settings.quiet_start:%H:%M}-{settings.quiet_end:%H:%M}" == "22:55-23:10"


def test_unknown_top_level_key_suggests_the_closest(write_config: WriteConfig) -> None:
    message = error_for(write_config('databse = "x.sqlite"\n' + GATEWAY))
    assert (
        ": databse is not a setting envoylog knows; rename it to database (the closest" in message
    )


def test_unknown_gateway_key_names_its_gateway(write_config: WriteConfig) -> None:
    message = error_for(write_config(GATEWAY + GATEWAY.replace("home", "b") + 'hots = "x"\n'))
    assert (
        "gateway[2].hots is not a setting envoylog knows; rename it to host (the closest" in message
    )


def test_top_level_key_after_a_gateway_says_move_it_up(write_config: WriteConfig) -> None:
    message = error_for(write_config(GATEWAY + "log_level = 'debug'\n"))
    assert "gateway[1].log_level is a top-level setting" in message
    assert "move it above the first [[gateway]] table" in message


def test_wrong_type_says_what_to_write(write_config: WriteConfig) -> None:
    message = error_for(write_config('[[gateway]]\nname = "home"\nhost = 8080\n'))
    assert "gateway[1].host must be a string, not an integer (8080)" in message
    assert 'write it like host = "envoy.local"' in message


def test_missing_host(write_config: WriteConfig) -> None:
    message = error_for(write_config('[[gateway]]\nname = "home"\n'))
    assert 'gateway[1] has no host; add host = "envoy.local" to that [[gateway]] table' in message


def test_duplicate_name(write_config: WriteConfig) -> None:
    message = error_for(write_config(GATEWAY + GATEWAY))
    assert "gateway[2].name 'home' is already the name of gateway[1]" in message


def test_bad_timezone_suggests_a_real_one(write_config: WriteConfig) -> None:
    message = error_for(write_config(GATEWAY + 'timezone = "Europe/Berln"\n'))
    assert "gateway[1].timezone 'Europe/Berln' is not a known IANA timezone" in message
    assert 'did you mean "Europe/Berlin"' in message


def test_unknown_cadence_endpoint_lists_the_valid_ones(write_config: WriteConfig) -> None:
    text = GATEWAY + GATEWAY.replace("home", "b") + "[gateway.cadence]\nmeter_reading = 30\n"
    message = error_for(write_config(text))
    assert "gateway[2].cadence.meter_reading is not an endpoint envoylog knows" in message
    assert "use one of info, home, meters, meter_readings," in message
    assert "(closest: meter_readings)" in message


def test_cadence_too_short(write_config: WriteConfig) -> None:
    message = error_for(write_config("[cadence]\nmeter_readings = 1\n" + GATEWAY))
    assert "cadence.meter_readings must be 0 (off) or at least 5 seconds, not 1" in message


def test_cadence_overrides_apply_to_one_gateway(write_config: WriteConfig) -> None:
    text = "[cadence]\nhome = 0\n" + GATEWAY + "[gateway.cadence]\nmeter_readings = 30\n"
    text += GATEWAY.replace("home", "b")
    first, second = load_settings(write_config(text), environ={}).gateways
    assert (first.cadences["meter_readings"], first.cadences["home"]) == (30, 0)
    assert second.cadences["meter_readings"] == 60


def test_request_deadline_is_set_for_all_and_overridden_for_one(write_config: WriteConfig) -> None:
    second = '[[gateway]]\nname = "slow"\nhost = "10.0.0.2"\nrequest_deadline_s = 45\n'
    settings = load_settings(
        write_config("request_deadline_s = 20\n" + GATEWAY + second), environ={}
    )

    assert [g.request_deadline_s for g in settings.gateways] == [20, 45]


def test_request_deadline_defaults_to_30_s(write_config: WriteConfig) -> None:
    settings = load_settings(write_config(GATEWAY), environ={})

    assert settings.request_deadline_s == settings.gateways[0].request_deadline_s == 30


def test_request_deadline_of_zero_is_refused(write_config: WriteConfig) -> None:
    message = error_for(write_config("request_deadline_s = 0\n" + GATEWAY))

    assert ": request_deadline_s must be at least 1, not 0;" in message


def test_toml_syntax_error_gives_line_and_column(write_config: WriteConfig) -> None:
    message = error_for(write_config(GATEWAY + "host = \n"))
    assert ", line 4, column 8: invalid TOML (invalid value); fix the syntax there." in message


def test_missing_file_says_where_to_start(tmp_path: Path) -> None:
    message = error_for(tmp_path / "nope.toml")
    assert "does not exist; create it from deploy/envoylog.example.toml" in message


def test_unreadable_token_file(write_config: WriteConfig, tmp_path: Path) -> None:
    message = error_for(write_config(GATEWAY + 'token_file = "missing.token"\n'))
    assert (
        f"gateway[1].token_file names {tmp_path / 'missing.token'}, which cannot be read" in message
    )
    assert "(No such file or directory); fix the path" in message


def test_token_file_without_read_permission(write_config: WriteConfig, tmp_path: Path) -> None:
    token = private_file(tmp_path / "envoy.token")
    token.chmod(0o000)
    try:
        with token.open():
            pytest.skip("this user reads files whatever their mode (root)")
    except PermissionError:
        pass
    message = error_for(write_config(GATEWAY + 'token_file = "envoy.token"\n'))
    assert "which cannot be read (Permission denied)" in message


def test_world_readable_token_file(write_config: WriteConfig, tmp_path: Path) -> None:
    private_file(tmp_path / "envoy.token").chmod(0o644)
    message = error_for(write_config(GATEWAY + 'token_file = "envoy.token"\n'))
    assert "gateway[1].token_file names" in message
    assert "is readable by every user (mode 0644) and holds the token" in message
    assert f"run chmod o-r {tmp_path / 'envoy.token'}." in message


def test_inline_token_in_world_readable_file(write_config: WriteConfig) -> None:
    path = write_config(GATEWAY + 'token = "abc.def.ghi"\n')
    path.chmod(0o644)
    message = error_for(path)
    assert "the config file is readable by every user (mode 0644) and holds a token" in message
    assert "abc.def" not in message


def test_secret_values_never_appear_in_messages(write_config: WriteConfig) -> None:
    message = error_for(write_config(GATEWAY + "digest_password = 123456\n"))
    assert "gateway[1].digest_password must be a string, not an integer (<hidden>)" in message
    assert "123456" not in message.split(";")[0]


def test_token_and_token_file_together(write_config: WriteConfig, tmp_path: Path) -> None:
    private_file(tmp_path / "envoy.token")
    text = GATEWAY + 'token = "a.b.c"\ntoken_file = "envoy.token"\n'
    message = error_for(write_config(text))
    assert "gateway[1].token is set together with token_file; keep only one" in message


def test_enlighten_user_needs_a_password_file(write_config: WriteConfig) -> None:
    message = error_for(write_config(GATEWAY + 'enlighten_username = "me@example.com"\n'))
    assert "gateway[1].enlighten_username is set without enlighten_password_file" in message


def test_bad_quiet_time(write_config: WriteConfig) -> None:
    message = error_for(write_config('quiet_start = "25:00"\n' + GATEWAY))
    assert "quiet_start must be a time of day as \"HH:MM\" (24-hour), not '25:00'" in message


def test_choices_are_case_insensitive(write_config: WriteConfig) -> None:
    text = 'sqlite_synchronous = "full"\nlog_level = "DEBUG"\n' + GATEWAY
    settings = load_settings(write_config(text), environ={})
    assert (settings.sqlite_synchronous, settings.log_level) == ("FULL", "debug")
    assert settings.store_options().engine.sqlite_synchronous == "FULL"


def test_relative_paths_are_relative_to_the_file(write_config: WriteConfig, tmp_path: Path) -> None:
    text = 'database = "data/envoy.sqlite"\nspool_dir = "spool"\n' + GATEWAY
    settings = load_settings(write_config(text), environ={})
    assert settings.database == str(tmp_path / "data" / "envoy.sqlite")
    assert settings.spool_dir == tmp_path / "spool"


def test_toml_error_at_end_of_file(write_config: WriteConfig) -> None:
    message = error_for(write_config('log_level = "info'))
    assert ", end of file: invalid TOML (" in message


@pytest.mark.parametrize("seconds", [60, 900, 1800, 3600])
def test_a_compaction_step_dividing_an_hour_loads(write_config: WriteConfig, seconds: int) -> None:
    settings = load_settings(write_config(f"compaction_step_s = {seconds}\n" + GATEWAY), environ={})
    assert settings.compaction_step_s == seconds


@pytest.mark.parametrize("seconds", [7200, 1000])
def test_a_compaction_step_not_dividing_an_hour_says_so(
    write_config: WriteConfig, seconds: int
) -> None:
    message = error_for(write_config(f"compaction_step_s = {seconds}\n" + GATEWAY))
    assert f"compaction_step_s must divide an hour (at most 3600 seconds), not {seconds}" in message
