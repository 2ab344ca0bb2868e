"""Find and read the TOML file into Settings; every problem is one sentence naming file and key."""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from envoylog.client.credentials import TOKEN_ENV, Secret
from envoylog.config import table
from envoylog.config.kinds import Invalid, toml_type
from envoylog.config.model import GatewaySettings, Settings, default_cadences
from envoylog.config.table import Setting
from envoylog.errors import ConfigError
from envoylog.paths import spool_dir as default_spool_dir

T = TypeVar("T")

CONFIG_ENV = "ENVOYLOG_CONFIG"
FILE_NAME = "envoylog.toml"
SYSTEM_CONFIG = Path("/etc/envoylog") / FILE_NAME

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def find_config_file(flag: Path | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """Pick the config file: --config, $ENVOYLOG_CONFIG, systemd's, /etc, then the user's.

    The flag and $ENVOYLOG_CONFIG are returned even when missing (loading then says
    so); the other places count only when the file exists. None: no file anywhere.
    """
    env = os.environ if environ is None else environ
    if flag is not None:
        return flag
    if env.get(CONFIG_ENV, "").strip():
        return Path(env[CONFIG_ENV].strip()).expanduser()
    candidates: list[Path] = []
    if env.get("CONFIGURATION_DIRECTORY"):
        candidates.append(Path(env["CONFIGURATION_DIRECTORY"].split(":")[0]) / FILE_NAME)
    candidates.append(SYSTEM_CONFIG)
    xdg = env.get("XDG_CONFIG_HOME")
    user_base = Path(xdg) if xdg else Path.home() / ".config"
    candidates.append(user_base / "envoylog" / FILE_NAME)
    return next((c for c in candidates if c.is_file()), None)


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the config file at `path` (None: built-in defaults, no gateways)."""
    env = os.environ if environ is None else environ
    if path is None:
        return _Reader(None, env).settings({})
    return _Reader(path, env).settings(_parse(path))


def _parse(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: the config file does not exist; create it from "
            "deploy/envoylog.example.toml or point --config / $ENVOYLOG_CONFIG elsewhere."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(
            f"{path}: cannot read the config file ({reason or exc}); "
            "check its permissions and that it is a text file."
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POSITION.search(message)
        where = f"line {match[1]}, column {match[2]}" if match else "end of file"
        problem = _TOML_POSITION.sub("", message).replace(" (at end of document)", "")
        raise ConfigError(
            f"{path}, {where}: invalid TOML ({problem[:1].lower()}{problem[1:]}); "
            "fix the syntax there."
        ) from exc


class _Reader:
    """Validate one parsed file, with the file's name in every message."""

    def __init__(self, path: Path | None, environ: Mapping[str, str]) -> None:
        self.source = path
        self.path = path or Path("<defaults>")
        self.env = environ
        self.base = self.path.parent if path else Path.cwd()

    def fail(self, key: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key} {problem}; {fix}.")

    def settings(self, data: dict[str, Any]) -> Settings:
        self.check_keys(data, table.TOP, "")
        cadences = self.cadences(self.table(data, "cadence"), "cadence", default_cadences())
        database = self.get(data, table.DATABASE, "")
        if database is not None and "://" not in database:
            database = str(self.resolve(Path(database).expanduser()))
        spool_dir = self.get(data, table.SPOOL_DIR, "")
        deadline_s = self.need(data, table.REQUEST_DEADLINE_S, "")
        gateways = self.gateways(data.get("gateway", []), cadences, deadline_s)
        if any(g.token is not None and not g.token_from_env for g in gateways):
            self.check_private(self.path, None, "holds a token")
        elif any(g.digest_password is not None for g in gateways):
            self.check_private(self.path, None, "holds a digest password")
        return Settings(
            source=self.source,
            database=database,
            spool_dir=self.resolve(spool_dir) if spool_dir else default_spool_dir(),
            spool_max_bytes=self.need(data, table.SPOOL_MAX_BYTES, ""),
            raw_body_days=self.need(data, table.RAW_BODY_DAYS, ""),
            rollup_interval_s=self.need(data, table.ROLLUP_INTERVAL_S, ""),
            full_resolution_days=self.need(data, table.FULL_RESOLUTION_DAYS, ""),
            compaction_step_s=self.need(data, table.COMPACTION_STEP_S, ""),
            sqlite_synchronous=self.need(data, table.SQLITE_SYNCHRONOUS, ""),
            db_timeout_s=self.need(data, table.DB_TIMEOUT_S, ""),
            db_connect_timeout_s=self.need(data, table.DB_CONNECT_TIMEOUT_S, ""),
            quiet_start=self.need(data, table.QUIET_START, ""),
            quiet_end=self.need(data, table.QUIET_END, ""),
            log_level=self.need(data, table.LOG_LEVEL, ""),
            cadences=cadences,
            poll_deadline_s=self.need(data, table.POLL_DEADLINE_S, ""),
            max_backoff_s=self.need(data, table.MAX_BACKOFF_S, ""),
            request_deadline_s=deadline_s,
            gateways=gateways,
        )

    def gateways(
        self, value: object, cadences: Mapping[str, int], deadline_s: int
    ) -> tuple[GatewaySettings, ...]:
        if isinstance(value, dict):
            value = [value]  # [gateway] written for [[gateway]]: one gateway, same meaning
        if not isinstance(value, list) or not all(isinstance(g, dict) for g in value):
            raise self.fail(
                "gateway",
                f"must be one or more [[gateway]] tables, not {toml_type(value)}",
                "write each gateway as a [[gateway]] table with name and host",
            )
        seen: dict[str, str] = {}
        result = []
        for number, raw in enumerate(value, start=1):
            gateway = self.gateway(raw, f"gateway[{number}]", cadences, deadline_s)
            if gateway.name in seen:
                raise self.fail(
                    f"gateway[{number}].name",
                    f"{gateway.name!r} is already the name of {seen[gateway.name]}",
                    "give each gateway its own name",
                )
            seen[gateway.name] = f"gateway[{number}]"
            result.append(gateway)
        return tuple(result)

    def gateway(
        self, data: dict[str, Any], where: str, cadences: Mapping[str, int], deadline_s: int
    ) -> GatewaySettings:
        self.check_keys(data, table.GATEWAY, where)
        for required in (table.NAME, table.HOST):
            if required.key not in data:
                raise self.fail(
                    where,
                    f"has no {required.key}",
                    f"add {required.key} = {required.example} to that [[gateway]] table",
                )
        name = self.need(data, table.NAME, where)
        token = self.get(data, table.TOKEN, where)
        token_file = self.get(data, table.TOKEN_FILE, where)
        if token is not None and token_file is not None:
            raise self.fail(
                f"{where}.token",
                "is set together with token_file",
                "keep only one of token and token_file",
            )
        user = self.get(data, table.ENLIGHTEN_USERNAME, where)
        password_file = self.get(data, table.ENLIGHTEN_PASSWORD_FILE, where)
        if (user is None) != (password_file is None):
            have, missing = (
                ("enlighten_username", "enlighten_password_file")
                if user
                else ("enlighten_password_file", "enlighten_username")
            )
            raise self.fail(
                f"{where}.{have}",
                f"is set without {missing}",
                f"add {missing} or remove {have}",
            )
        from_env = False
        if token is None and token_file is None and self.env.get(TOKEN_ENV, "").strip():
            token, from_env = self.env[TOKEN_ENV].strip(), True
        digest = self.get(data, table.DIGEST_PASSWORD, where)
        return GatewaySettings(
            name=name,
            host=self.need(data, table.HOST, where),
            token=Secret(token) if token else None,
            token_file=self.secret_file(token_file, f"{where}.token_file", "token"),
            token_from_env=from_env,
            enlighten_username=user,
            enlighten_password_file=self.secret_file(
                password_file, f"{where}.enlighten_password_file", "Enlighten password"
            ),
            digest_password=Secret(digest) if digest else None,
            timezone=self.get(data, table.TIMEZONE, where),
            cadences=self.cadences(
                self.table(data, "cadence", where), f"{where}.cadence", cadences
            ),
            enabled=self.need(data, table.ENABLED, where),
            request_deadline_s=self.get(data, table.GATEWAY_REQUEST_DEADLINE_S, where)
            or deadline_s,
        )

    def cadences(
        self, data: dict[str, Any], where: str, defaults: Mapping[str, int]
    ) -> Mapping[str, int]:
        settings = {s.key: s for s in table.CADENCES}
        valid = ", ".join(settings)
        merged = dict(defaults)
        for key, value in data.items():
            setting = settings.get(key)
            if setting is None:
                close = difflib.get_close_matches(key, settings, n=1)
                hint = f" (closest: {close[0]})" if close else ""
                raise self.fail(
                    f"{where}.{key}",
                    "is not an endpoint envoylog knows",
                    f"use one of {valid}{hint}",
                )
            merged[key] = self.convert(setting, value, f"{where}.{key}")
        return MappingProxyType(merged)

    def table(self, data: dict[str, Any], key: str, where: str = "") -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            dotted = f"{where}.{key}" if where else key
            raise self.fail(
                dotted,
                f"must be a table, not {toml_type(value)}",
                f"write it as [{'gateway.' if where else ''}{key}] with one line per endpoint",
            )
        return value

    def check_keys(self, data: dict[str, Any], section: str, where: str) -> None:
        allowed = table.section_keys(section)
        for key in data:
            if key in allowed:
                continue
            dotted = f"{where}.{key}" if where else key
            if section == table.GATEWAY and key in table.section_keys(table.TOP):
                raise self.fail(
                    dotted,
                    "is a top-level setting, not a gateway setting",
                    "move it above the first [[gateway]] table (TOML puts every key after "
                    "a table header into that table)",
                )
            close = difflib.get_close_matches(key, allowed, n=1)
            fix = (
                f"rename it to {close[0]} (the closest valid key) or remove it"
                if close
                else f"remove it (valid keys here: {', '.join(allowed)})"
            )
            raise self.fail(dotted, "is not a setting envoylog knows", fix)

    def get(self, data: dict[str, Any], setting: Setting[T], where: str) -> T | None:
        if setting.key not in data:
            return setting.default
        dotted = f"{where}.{setting.key}" if where else setting.key
        return self.convert(setting, data[setting.key], dotted)

    def need(self, data: dict[str, Any], setting: Setting[T], where: str) -> T:
        value = self.get(data, setting, where)
        assert value is not None, f"{setting.dotted} has a default or is checked as required"
        return value

    def convert(self, setting: Setting[T], value: object, dotted: str) -> T:
        try:
            return setting.kind.convert(value)
        except Invalid as exc:
            shown = "<hidden>" if setting.secret else None
            problem = exc.problem if shown is None else exc.problem.replace(repr(value), shown)
            fix = exc.fix or f"write it like {setting.key} = {setting.example}"
            raise self.fail(dotted, problem, fix) from None

    def resolve(self, path: Path) -> Path:
        """A relative path in the file is relative to the file's folder, not the working one."""
        return path if path.is_absolute() else self.base / path

    def secret_file(self, path: Path | None, key: str, what: str) -> Path | None:
        if path is None:
            return None
        if not path.is_absolute():
            credentials = self.env.get("CREDENTIALS_DIRECTORY")
            loaded = Path(credentials) / path if credentials else None
            path = loaded if loaded is not None and loaded.exists() else self.resolve(path)
        try:
            if not stat.S_ISREG(path.stat().st_mode):
                raise IsADirectoryError(21, "not a regular file")
            with path.open("rb") as handle:
                empty = not handle.read().strip()
        except OSError as exc:
            raise self.fail(
                key,
                f"names {path}, which cannot be read ({exc.strerror or exc})",
                "fix the path, or let the service's user read the file (under systemd use "
                "LoadCredential=, see deploy/envoylog.service)",
            ) from None
        if empty:
            raise self.fail(key, f"names {path}, which is empty", f"put the {what} in it")
        self.check_private(path, key, f"holds the {what}")
        return path

    def check_private(self, path: Path, key: str | None, why: str) -> None:
        """Refuse a file holding a secret that every user of the machine can read."""
        try:
            mode = path.stat().st_mode
        except OSError:
            return  # vanished since it was read: reading it later says so
        if not mode & stat.S_IROTH:
            return
        problem = f"is readable by every user (mode {stat.S_IMODE(mode):04o}) and {why}"
        if key is None:
            raise ConfigError(
                f"{self.path}: the config file {problem}; run chmod o-r {path}, "
                "or move the secret into a token_file."
            )
        raise self.fail(key, f"names {path}, which {problem}", f"run chmod o-r {path}")
