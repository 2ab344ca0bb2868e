"""Every configuration key, declared once: validation, the example file and docs come from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any, Generic, TypeVar

from envoylog import endpoints
from envoylog.client.gateway import DEADLINE_S
from envoylog.config import kinds
from envoylog.db.engine import DEFAULT_TIMEOUT_S, SYNCHRONOUS_MODES, EngineOptions
from envoylog.db.spool import DEFAULT_MAX_BYTES
from envoylog.db.store import StoreOptions
from envoylog.db.url import DEFAULT_FILE
from envoylog.history.settings import FULL_RESOLUTION_DEFAULT, STEP_DEFAULT
from envoylog.paths import SPOOL_FOLDER

T = TypeVar("T")

TOP = ""
CADENCE = "cadence"
GATEWAY = "gateway"
GATEWAY_CADENCE = "gateway.cadence"
SECTIONS = (TOP, CADENCE, GATEWAY, GATEWAY_CADENCE)


@dataclass(frozen=True, slots=True)
class Setting(Generic[T]):
    """One key: where it lives, what it holds, its default and what it means."""

    section: str  # one of SECTIONS
    key: str
    kind: kinds.Kind[T]
    default: T | None
    help: str
    example: str  # a TOML value, shown in the example file and in fixes
    required: bool = False
    default_text: str | None = None  # how docs show a default computed at run time
    secret: bool = False  # never printed; a file holding it must not be world-readable

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.key}" if self.section else self.key

    @property
    def default_value(self) -> T:
        """The default of a setting that has one, for code that starts from it without a file."""
        if self.default is None:
            raise ValueError(f"{self.dotted} has no default")
        return self.default

    @property
    def shown_default(self) -> str:
        """The default as docs show it."""
        if self.default_text is not None:
            return self.default_text
        if self.default is None:
            return "required" if self.required else "none"
        return toml_literal(self.default)


def toml_literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, time):
        return f'"{value.strftime("%H:%M")}"'
    return str(value)


# Top level. Keys here must come before the first [[gateway]] table (a TOML rule).
DATABASE = Setting(
    TOP,
    "database",
    kinds.TEXT,
    None,
    "Database URL (sqlite:///path.sqlite, postgresql+psycopg://user@host/envoylog) or a "
    "SQLite file path. $ENVOYLOG_DB and --db win over it.",
    '"postgresql+psycopg://envoylog@db.lan/envoylog"',
    default_text=f"{DEFAULT_FILE} in the state directory",
)
SPOOL_DIR = Setting(
    TOP,
    "spool_dir",
    kinds.PATH,
    None,
    "Folder where polls wait while the database is down; replayed in order when it is back.",
    '"/var/lib/envoylog/spool"',
    default_text=f"{SPOOL_FOLDER}/ in the state directory",
)
SPOOL_MAX_BYTES = Setting(
    TOP,
    "spool_max_bytes",
    kinds.BYTES,
    DEFAULT_MAX_BYTES,
    "Cap on the spool's size; when full, the oldest polls are dropped (with a warning).",
    str(DEFAULT_MAX_BYTES),
)
RAW_BODY_DAYS = Setting(
    TOP,
    "raw_body_days",
    kinds.DAYS,
    StoreOptions().raw_body_days,
    "Days to keep each response body, compressed, so a fixed parser can rebuild rows "
    "(bodies that failed to parse are kept until reparsed).",
    "7",
)
SQLITE_SYNCHRONOUS = Setting(
    TOP,
    "sqlite_synchronous",
    kinds.choice(*SYNCHRONOUS_MODES),
    EngineOptions().sqlite_synchronous,
    "SQLite's PRAGMA synchronous; NORMAL (WAL) loses at most the last commits on a power cut, "
    "FULL loses none and writes more to the SD card.",
    '"FULL"',
)
DB_TIMEOUT_S = Setting(
    TOP,
    "db_timeout_s",
    kinds.SECONDS,
    int(DEFAULT_TIMEOUT_S),
    "Longest one database write may take: PostgreSQL's statement_timeout and lock_timeout, "
    "and the service cuts a write off past it (even on a frozen server) and spools the "
    "poll. SQLite waits at most 10 s, or this if less, for another writer's lock.",
    "60",
)
DB_CONNECT_TIMEOUT_S = Setting(
    TOP,
    "db_connect_timeout_s",
    kinds.SECONDS,
    EngineOptions().connect_timeout_s,
    "Seconds to wait for a connection to PostgreSQL.",
    "20",
)
QUIET_START = Setting(
    TOP,
    "quiet_start",
    kinds.CLOCK,
    time(22, 55),
    "Start of the nightly window (gateway local time) in which no poll is made: gateways do "
    "their own housekeeping around 23:00 and answer slowly or not at all. Equal start and "
    "end: no window.",
    '"22:55"',
)
QUIET_END = Setting(
    TOP,
    "quiet_end",
    kinds.CLOCK,
    time(23, 10),
    "End of the nightly quiet window (gateway local time).",
    '"23:10"',
)
LOG_LEVEL = Setting(
    TOP,
    "log_level",
    kinds.choice("debug", "info", "warning", "error"),
    "info",
    "How much the service logs (to the journal under systemd); -v flags win.",
    '"debug"',
)
# Hourly: recomputing a day of a 36-inverter site costs 0.2-0.4 s of CPU
# (benchmarks/bench_year.py), 40-80 times what that gateway's polls cost in the meantime
# if done every 5 minutes.
ROLLUP_INTERVAL_S = Setting(
    TOP,
    "rollup_interval_s",
    kinds.SECONDS_OR_OFF,
    3600,
    "Seconds between the service's updates of the energy tables (the local days that new "
    "readings reach; the last two days every 6 hours). Shorter keeps energy_hourly fresher "
    "at a CPU cost: recomputing a day of a 36-inverter site takes 0.2-0.4 s. 0: only "
    "`envoylog rollup` updates them.",
    "900",
)
FULL_RESOLUTION_DAYS = Setting(
    TOP,
    "full_resolution_days",
    kinds.WHOLE_DAYS_OR_OFF,
    FULL_RESOLUTION_DEFAULT,
    "Local days of readings kept as polled; older days are compacted (daily by the service, "
    "or by `envoylog compact`) once their energy is rolled up: counters stay exact at every "
    "step and hour, power becomes mean/min/max per step, so energy rollups do not change. "
    "14 days outlast a spool replayed after a long outage and leave two weeks of every "
    "reading to look into. 0: the service never compacts.",
    "30",
)
COMPACTION_STEP_S = Setting(
    TOP,
    "compaction_step_s",
    kinds.STEP,
    int(STEP_DEFAULT.total_seconds()),
    "Seconds a compacted reading stands for at most (its power: mean, min and max over "
    "them). An hour is the energy tables' resolution; counters stay exact at every local "
    "hour whatever the step, and coverage is kept. Shorter keeps finer power curves for "
    "more bytes (1800: about 1.8 times the rows).",
    "1800",
)
POLL_DEADLINE_S = Setting(
    TOP,
    "poll_deadline_s",
    kinds.SECONDS,
    120,
    "Longest one poll of a gateway may take: once spent, its remaining endpoints are not "
    "asked this time (each says so), and the request under way ends by its own deadline.",
    "180",
)
MAX_BACKOFF_S = Setting(
    TOP,
    "max_backoff_s",
    kinds.SECONDS,
    3600,
    "Longest wait between attempts at a gateway that keeps failing; the wait doubles from "
    "one minute up to this.",
    "900",
)
_DEADLINE_HELP = (
    "Seconds one request to a gateway may take in all: connecting, waiting for the answer "
    "and reading all of it, retries included. A gateway that hangs, trickles, or promises "
    "more than it sends is cut off then, and asked again at the next poll. Gateways can be "
    "slow (/production.json has taken 30-45 s): raise it for such a gateway."
)
REQUEST_DEADLINE_S = Setting(
    TOP, "request_deadline_s", kinds.SECONDS, int(DEADLINE_S), _DEADLINE_HELP, "45"
)

CADENCES = tuple(
    Setting(
        CADENCE,
        e.name,
        kinds.CADENCE,
        e.cadence_s,
        f"Seconds between reads of {e.path.split('?')[0]}"
        + (f" (only from {e.when})" if e.when else "")
        + "; 0 never reads it.",
        str(e.cadence_s),
    )
    for e in endpoints.ALL
) + tuple(
    Setting(
        CADENCE,
        e.with_cts_key,
        kinds.CADENCE,
        e.cadence_with_cts_s,
        f"Seconds between reads of {e.path.split('?')[0]} while /ivp/meters/readings gives "
        "CT readings, which its CT figures repeat; 0 never reads it then.",
        str(e.cadence_with_cts_s),
    )
    for e in endpoints.ALL
    if e.cadence_with_cts_s is not None
)

# One table per gateway: [[gateway]].
NAME = Setting(
    GATEWAY,
    "name",
    kinds.TEXT,
    None,
    "Unique name of this gateway in logs, messages and the database.",
    '"home"',
    required=True,
)
HOST = Setting(
    GATEWAY,
    "host",
    kinds.TEXT,
    None,
    "Gateway URL (https://envoy.local) or bare host or address (tries HTTPS, then HTTP).",
    '"envoy.local"',
    required=True,
)
TOKEN = Setting(
    GATEWAY,
    "token",
    kinds.TEXT,
    None,
    "JWT token for firmware 7 and later, written inline; prefer token_file. The config file "
    "must then not be readable by other users.",
    '"eyJhbGciOi..."',
    default_text="$ENVOYLOG_TOKEN when neither token nor token_file is set",
    secret=True,
)
TOKEN_FILE = Setting(
    GATEWAY,
    "token_file",
    kinds.PATH,
    None,
    "File holding the JWT token (mode 0600 or 0400). A relative name is looked up in "
    "$CREDENTIALS_DIRECTORY first (systemd LoadCredential=), then beside this file.",
    '"envoy-token"',
)
ENLIGHTEN_USERNAME = Setting(
    GATEWAY,
    "enlighten_username",
    kinds.TEXT,
    None,
    "Enlighten account e-mail, to fetch a new token when the gateway refuses the current one "
    "(needs enlighten_password_file).",
    '"owner@example.com"',
)
ENLIGHTEN_PASSWORD_FILE = Setting(
    GATEWAY,
    "enlighten_password_file",
    kinds.PATH,
    None,
    "File holding the Enlighten password; relative names resolve like token_file.",
    '"enlighten-password"',
)
DIGEST_PASSWORD = Setting(
    GATEWAY,
    "digest_password",
    kinds.TEXT,
    None,
    "HTTP Digest password of user envoy for firmware before 7.",
    '"123456"',
    default_text="last 6 digits of the serial",
    secret=True,
)
TIMEZONE = Setting(
    GATEWAY,
    "timezone",
    kinds.TIMEZONE,
    None,
    "IANA timezone for days, months and the quiet window.",
    '"Europe/Berlin"',
    default_text="the gateway's own (/home), else this machine's",
)
GATEWAY_REQUEST_DEADLINE_S = Setting(
    GATEWAY,
    "request_deadline_s",
    kinds.SECONDS,
    None,
    "This gateway's own request_deadline_s.",
    "45",
    default_text="the top-level request_deadline_s",
)
ENABLED = Setting(
    GATEWAY,
    "enabled",
    kinds.BOOLEAN,
    True,
    "false keeps the gateway in the file without polling it.",
    "false",
)
GATEWAY_SETTINGS: tuple[Setting[Any], ...] = (
    NAME,
    HOST,
    TOKEN,
    TOKEN_FILE,
    ENLIGHTEN_USERNAME,
    ENLIGHTEN_PASSWORD_FILE,
    DIGEST_PASSWORD,
    TIMEZONE,
    GATEWAY_REQUEST_DEADLINE_S,
    ENABLED,
)
TOP_SETTINGS: tuple[Setting[Any], ...] = (
    DATABASE,
    SPOOL_DIR,
    SPOOL_MAX_BYTES,
    RAW_BODY_DAYS,
    ROLLUP_INTERVAL_S,
    FULL_RESOLUTION_DAYS,
    COMPACTION_STEP_S,
    SQLITE_SYNCHRONOUS,
    DB_TIMEOUT_S,
    DB_CONNECT_TIMEOUT_S,
    QUIET_START,
    QUIET_END,
    LOG_LEVEL,
    POLL_DEADLINE_S,
    MAX_BACKOFF_S,
    REQUEST_DEADLINE_S,
)

ALL: tuple[Setting[Any], ...] = (*TOP_SETTINGS, *CADENCES, *GATEWAY_SETTINGS)


def section_keys(section: str) -> tuple[str, ...]:
    """The keys a section may hold (subtables included)."""
    if section in (CADENCE, GATEWAY_CADENCE):
        return tuple(endpoints.BY_NAME)
    own = tuple(s.key for s in ALL if s.section == section)
    if section == TOP:
        return (*own, CADENCE, GATEWAY)
    return (*own, "cadence")
