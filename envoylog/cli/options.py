"""Options shared by the commands that talk to a gateway."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from envoylog.client import Credentials, GatewayClient, gateway_client
from envoylog.client.gateway import DEADLINE_S, RETRIES
from envoylog.config import Settings, find_config_file, load_settings

F = TypeVar("F", bound=Callable[..., Any])


class _IsoInstant(click.ParamType[datetime, Any]):
    """An ISO-8601 date or date-time, with or without an offset (naive: the command says)."""

    name = "ISO-8601"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            self.fail(
                f"{value!r} is not an ISO-8601 date or time such as 2024-06-01T06:00", param, ctx
            )


class _LocalDate(click.DateTime):
    """A local date (YYYY-MM-DD): click's DateTime, handed to the command as a date."""

    name = "DATE"

    def __init__(self) -> None:
        super().__init__(["%Y-%m-%d"])

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        return super().convert(value, param, ctx).date()


# Every date and instant on the command line is read by one of these two. A local day
# (--from, --to, --day, --date) is click's own DateTime. An instant (--since, --start)
# is the stdlib's ISO-8601 reader: click.DateTime needs a strptime format for each shape
# (date, minutes, seconds, fractions, offsets), datetime.fromisoformat reads them all.
DAY = _LocalDate()
ISO_INSTANT = _IsoInstant()


def gateway_options(command: F) -> F:
    """Add --host and the authentication options to a command."""
    options = [
        click.option(
            "--host",
            required=True,
            help="Gateway URL (https://envoy.local) or bare host (tries HTTPS, then HTTP).",
        ),
        click.option(
            "--token",
            help="JWT token for firmware 7 and later (else --token-file, else $ENVOYLOG_TOKEN).",
        ),
        click.option(
            "--token-file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="File holding the JWT token.",
        ),
        click.option(
            "--digest-password",
            help="Digest password for firmware before 7 (default: last 6 digits of the serial).",
        ),
        click.option(
            "--enlighten-user",
            help="Enlighten account e-mail, to fetch a new token when the gateway refuses one.",
        ),
        click.option(
            "--enlighten-password-file",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            help="File holding the Enlighten password.",
        ),
        click.option(
            "--pin/--no-pin",
            default=True,
            show_default=True,
            help="Remember the gateway's TLS certificate and refuse a different one.",
        ),
        click.option(
            "--retries",
            type=click.IntRange(0, 10),
            default=RETRIES,
            show_default=True,
            help="Retries after a refused connection or a 5xx answer, with growing waits, "
            f"within the {DEADLINE_S:g} s each request may take.",
        ),
        click.option(
            "--retrust",
            is_flag=True,
            help="Accept and remember a changed TLS certificate (after a gateway replacement).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def client_from_options(
    host: str,
    token: str | None,
    token_file: Path | None,
    digest_password: str | None,
    enlighten_user: str | None,
    enlighten_password_file: Path | None,
    pin: bool,
    retrust: bool,
    retries: int = RETRIES,
) -> GatewayClient:
    """Build the gateway client the shared options describe."""
    enlighten_password = (
        enlighten_password_file.read_text().strip() if enlighten_password_file else None
    )
    credentials = Credentials(
        token=token,
        token_file=token_file,
        digest_password=digest_password,
        enlighten_username=enlighten_user,
        enlighten_password=enlighten_password,
    )
    return gateway_client(host, credentials, pin=pin, retrust=retrust, retries=retries)


def with_client(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the shared options into a `client` keyword argument."""

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        names = (
            "host",
            "token",
            "token_file",
            "digest_password",
            "enlighten_user",
            "enlighten_password_file",
            "pin",
            "retrust",
            "retries",
        )
        settings = {name: kwargs.pop(name) for name in names}
        client = client_from_options(**settings)
        try:
            return command(client=client, host=settings["host"], **kwargs)
        finally:
            client.close()

    return wrapper


def database_options(command: F) -> F:
    """Add --db and --config: the database comes from the flag, $ENVOYLOG_DB, or the file."""
    command = click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Config file (default: $ENVOYLOG_CONFIG, /etc/envoylog/envoylog.toml, "
        "then ~/.config/envoylog/envoylog.toml).",
    )(command)
    return click.option(
        "--db",
        "db_url",
        metavar="URL",
        help="Database URL or SQLite file (default: $ENVOYLOG_DB, the config file's "
        "database, else envoylog.sqlite in the state folder).",
    )(command)


def settings_from(config_path: Path | None) -> Settings:
    """Load the config file named by --config or found in the usual places (defaults if none)."""
    return load_settings(find_config_file(config_path))


def database_url(db_url: str | None, config_path: Path | None) -> str:
    """Resolve the database: --db, then $ENVOYLOG_DB, then the config file, then the default."""
    return settings_from(config_path).db_url(db_url)


def required_config(config_path: Path | None) -> tuple[Path, Settings]:
    """Find and load the config file, or stop with one sentence saying where it was looked for."""
    path = find_config_file(config_path)
    if path is None:
        raise click.ClickException(
            "No config file found (--config, $ENVOYLOG_CONFIG, /etc/envoylog/envoylog.toml, "
            "~/.config/envoylog/envoylog.toml); create one from deploy/envoylog.example.toml."
        )
    return path, load_settings(path)


def check_range(start: date | None, end: date | None) -> None:
    """Refuse a --from after --to."""
    if start is not None and end is not None and start > end:
        raise click.BadParameter(f"--from {start} is after --to {end}", param_hint="--from")


def timezone_overrides(settings: Settings) -> dict[str, str]:
    """Each configured gateway's timezone setting, by name: it wins over the gateway's own."""
    return {g.name: g.timezone for g in settings.gateways if g.timezone}


def gateway_filter(command: F) -> F:
    """Add --gateway NAME|SERIAL (repeatable; default: every gateway)."""
    return click.option(
        "--gateway",
        "gateways",
        multiple=True,
        metavar="NAME|SERIAL",
        help="Only this gateway, by name or serial; repeat for several (default: all).",
    )(command)


def date_range(first: str, last: str) -> Callable[[F], F]:
    """Add --from and --to: local dates, both inclusive; ``first``/``last`` name the defaults."""

    def add(command: F) -> F:
        command = click.option(
            "--to",
            "end",
            type=DAY,
            help=f"Last local date, inclusive (YYYY-MM-DD; default: {last}).",
        )(command)
        return click.option(
            "--from",
            "start",
            type=DAY,
            help=f"First local date, inclusive (YYYY-MM-DD; default: {first}).",
        )(command)

    return add
