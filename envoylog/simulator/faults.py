"""Faults a simulated gateway can show, switchable and combinable: ``NAME[:ARGS]``.

``ARGS`` is a list of ``key=value`` separated by ``,`` or ``:`` (a first bare value
is the fault's main argument: ``slow:5`` means ``slow:seconds=5``). Keys every fault
takes: ``rate`` (share of requests hit, 0-1, default 1), ``path`` (only request paths
starting so), ``from`` / ``until`` (a window), or ``at`` with ``for``. Instants are
ISO-8601 (without an offset: the site's local time) or ``+DURATION`` after the start;
durations are seconds or a number with ``s``/``m``/``h``/``d``.

Whether a request is hit depends only on the seed, the fault, the path and how many
requests that path has had, so a run is reproducible.
"""

from __future__ import annotations

import dataclasses
import json
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from envoylog.errors import ConfigError
from envoylog.firmware import TOKEN_FIRMWARE, firmware_tuple
from envoylog.simulator.site import Ct, CtPhase, Site
from envoylog.simulator.sun import noise

NIGHTLY_HOUR = 23
DEFAULT_HANG_S = 120.0
BUSY_BODY = b"Resource busy, please retry after 30 seconds"
NOT_FOUND_HTML = (
    b"<html><head><title>Page Not Found</title></head><body><h1>Page Not Found</h1></body></html>\n"
)
ERROR_BODY = b'{"error": "404 - Not Found"}'
LIFETIME_KEYS = frozenset({"whLifetime", "wattHoursLifetime", "actEnergyDlvd", "actEnergyRcvd"})


@dataclass(frozen=True, slots=True)
class FaultKind:
    name: str
    summary: str
    main: str | None = None  # the key a bare first value stands for
    keys: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    body: bool = False  # changes the body of a data endpoint


KINDS = {
    kind.name: kind
    for kind in (
        FaultKind("slow", "answer after SECONDS (real time)", "seconds", ("seconds",)),
        FaultKind(
            "hang", "answer nothing for SECONDS (default 120), then close", "seconds", ("seconds",)
        ),
        FaultKind(
            "restart",
            "restarted at AT: 503 'Resource busy' (firmware 7+) or all "
            "zeros (older) for FOR (default 5m)",
            "at",
            (),
            ("at",),
        ),
        FaultKind("html200", "an HTML 'Page Not Found' page with status 200", "rate", body=True),
        FaultKind("truncated", "JSON cut off halfway", "rate", body=True),
        FaultKind("malformed", "JSON that is not JSON (single quotes)", "rate", body=True),
        FaultKind(
            "error-body", 'a {"error": "404 - Not Found"} body with status 200', "rate", body=True
        ),
        FaultKind(
            "token-expiry",
            "refuse every token (401) AFTER seconds from the start",
            "after",
            ("after",),
        ),
        FaultKind(
            "nightly-hang",
            "hang from 23:00 local time for FOR (default 2m)",
            "seconds",
            ("seconds",),
        ),
        FaultKind(
            "zero-lifetime",
            "lifetime counters read 0 (production.json, api/v1, meter readings)",
            "rate",
            body=True,
        ),
        FaultKind(
            "active-count-flicker",
            "CT entries in production.json say activeCount 0",
            "rate",
            body=True,
        ),
        FaultKind("firmware-change", "firmware TO from AT on", "at", ("to",), ("at", "to")),
        FaultKind("counter-reset", "lifetime counters restart from 0 at AT", "at", (), ("at",)),
        FaultKind(
            "trickle", "send the body one byte every SECONDS (default 1)", "seconds", ("seconds",)
        ),
        FaultKind(
            "lying-length",
            "declare a Content-Length longer than the body, send the body, then hold the "
            "connection (up to 120 s)",
            "rate",
        ),
        FaultKind("bad-chunk", "send the body chunked under a chunk size that is not hex", "rate"),
        FaultKind(
            "huge-body",
            "a body of SIZE bytes (default 60000000) of [{},{},..., chunked, no length",
            "size",
            ("size",),
        ),
    )
}
# Faults in how an answer is framed and sent, not in what it says (see serving.py).
FRAMING = ("trickle", "lying-length", "bad-chunk", "huge-body")
DEFAULT_TRICKLE_S = 1.0
DEFAULT_HUGE_BYTES = 60_000_000
COMMON_KEYS = ("rate", "path", "from", "until", "at", "for")


@dataclass(frozen=True, slots=True)
class Fault:
    """One parsed fault; instants are epoch seconds."""

    name: str
    spec: str
    rate: float = 1.0
    path: str | None = None
    start: float | None = None
    end: float | None = None
    seconds: float | None = None
    for_s: float | None = None
    to: str | None = None
    size: int | None = None

    def window_has(self, now: float) -> bool:
        return (self.start is None or now >= self.start) and (self.end is None or now < self.end)


# Durations are "90", "90s", "5m", "2h" or "1d": one regular expression. A duration
# library (pytimeparse) would be a dependency for the simulator's --fault values alone.
def _duration(text: str, spec: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    if not match:
        raise ConfigError(
            f"Fault {spec!r}: {text!r} is not a duration (seconds, or a number with s/m/h/d)."
        )
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def _instant(text: str, spec: str, *, start: float, zone: ZoneInfo) -> float:
    if text.startswith("+"):
        return start + _duration(text[1:], spec)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"Fault {spec!r}: {text!r} is not an ISO-8601 time (2024-06-01T12:00) "
            "or +DURATION after the start."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def parse_fault(spec: str, *, start: float, timezone: str, firmware: str) -> Fault:
    """Parse one ``--fault`` value for a gateway starting at ``start`` in ``timezone``."""
    name, _, rest = spec.strip().partition(":")
    kind = KINDS.get(name)
    if kind is None:
        raise ConfigError(f"Unknown fault {name!r} in {spec!r}: choose one of {', '.join(KINDS)}.")
    zone = ZoneInfo(timezone)
    args: dict[str, str] = {}
    # ":" separates arguments only before a key, so ISO times keep their colons.
    for index, part in enumerate(p for p in re.split(r"[,:](?=[a-z-]+=)", rest) if p):
        key, eq, value = part.partition("=")
        if not eq:
            if index or kind.main is None:
                raise ConfigError(f"Fault {spec!r}: {part!r} is not key=value.")
            key, value = kind.main, part
        if key not in (*COMMON_KEYS, *kind.keys):
            allowed = ", ".join((*kind.keys, *COMMON_KEYS))
            raise ConfigError(f"Fault {spec!r}: unknown key {key!r} (known: {allowed}).")
        args[key] = value
    for key in kind.required:
        if key not in args:
            raise ConfigError(f"Fault {spec!r} needs {key}=...")
    fault = Fault(name=name, spec=spec, path=args.get("path"))
    if "rate" in args:
        try:
            rate = float(args["rate"])
        except ValueError:
            rate = -1.0
        if not 0 <= rate <= 1:
            raise ConfigError(f"Fault {spec!r}: rate must be a number from 0 to 1.")
        fault = dataclasses.replace(fault, rate=rate)
    if "seconds" in args:
        fault = dataclasses.replace(fault, seconds=_duration(args["seconds"], spec))
    if "size" in args:
        if not args["size"].isdigit():
            raise ConfigError(f"Fault {spec!r}: size must be a whole number of bytes.")
        fault = dataclasses.replace(fault, size=int(args["size"]))

    def when(key: str) -> float | None:
        return _instant(args[key], spec, start=start, zone=zone) if key in args else None

    begin, end = when("from"), when("until")
    if "for" in args:
        fault = dataclasses.replace(fault, for_s=_duration(args["for"], spec))
    if "at" in args:
        begin = when("at")
        if fault.for_s is not None:
            assert begin is not None
            end = begin + fault.for_s
    if name == "token-expiry":
        begin = start + _duration(args.get("after", "3600"), spec)
    elif name == "restart" and end is None:
        assert begin is not None
        end = begin + 300
    elif name == "firmware-change":
        to = args["to"].lstrip("RDMrdm")
        if not firmware_tuple(to) or (firmware_tuple(to) >= TOKEN_FIRMWARE) != (
            firmware_tuple(firmware) >= TOKEN_FIRMWARE
        ):
            raise ConfigError(
                f"Fault {spec!r}: a firmware change must stay on the same side of "
                "firmware 7 (HTTP with digest, or HTTPS with a token) in one run."
            )
        fault = dataclasses.replace(fault, to=to)
    return dataclasses.replace(fault, start=begin, end=end)


def parse_faults(
    specs: Iterable[str | Fault], *, start: float, timezone: str, firmware: str
) -> tuple[Fault, ...]:
    return tuple(
        spec
        if isinstance(spec, Fault)
        else parse_fault(spec, start=start, timezone=timezone, firmware=firmware)
        for spec in specs
    )


class FaultPlan:
    """Decides, request by request, which faults hit (deterministic for a seed)."""

    def __init__(self, faults: Sequence[Fault], *, seed: int, timezone: str) -> None:
        self.faults = tuple(faults)
        self.seed = seed
        self.zone = ZoneInfo(timezone)

    def resets(self) -> list[float]:
        return [f.start for f in self.faults if f.name == "counter-reset" and f.start is not None]

    def firmware_at(self, now: float) -> str | None:
        changed = [f for f in self.faults if f.name == "firmware-change" and f.window_has(now)]
        return max(changed, key=lambda f: f.start or 0).to if changed else None

    def hits(self, name: str, now: float, path: str, count: int) -> Fault | None:
        """The fault called ``name`` if it hits this request (the ``count``-th on ``path``)."""
        for index, fault in enumerate(self.faults):
            if fault.name != name or not fault.window_has(now):
                continue
            if fault.path is not None and not path.startswith(fault.path):
                continue
            if name == "nightly-hang" and not self._nightly(fault, now):
                continue
            draw = noise(self.seed, 900 + index, zlib.crc32(path.encode()), count)
            if fault.rate >= 1 or draw < fault.rate:
                return fault
        return None

    def _nightly(self, fault: Fault, now: float) -> bool:
        local = datetime.fromtimestamp(now, self.zone)
        eleven = local.replace(hour=NIGHTLY_HOUR, minute=0, second=0, microsecond=0)
        return 0 <= now - eleven.timestamp() < (fault.for_s or 120.0)


def transform_json(body: bytes, change: str) -> bytes:
    """Apply a body fault that keeps the JSON valid: zero lifetimes, or inactive CTs."""
    try:
        data = json.loads(body)
    except ValueError:
        return body

    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(v) for v in value]
        if not isinstance(value, dict):
            return value
        result = {k: walk(v) for k, v in value.items()}
        if change == "zero-lifetime":
            result.update({k: 0 for k in result if k in LIFETIME_KEYS})
        elif change == "active-count-flicker" and result.get("type") == "eim":
            result["activeCount"] = 0
        return result

    return json.dumps(walk(data)).encode() + b"\n"


def broken_body(body: bytes, change: str) -> bytes:
    """A body that no longer parses: truncated, or malformed."""
    if change == "truncated":
        return body[: max(1, len(body) // 2)]
    return body.replace(b'"', b"'")


def zeroed(site: Site) -> Site:
    """The site as old firmware shows it for a few minutes after a restart: all zeros."""

    def zero_ct(ct: Ct | None) -> Ct | None:
        if ct is None:
            return None
        return Ct(tuple(CtPhase(watts=0.0, voltage_v=phase.voltage_v) for phase in ct.phases))

    return dataclasses.replace(
        site,
        production_ct=zero_ct(site.production_ct),
        consumption_ct=zero_ct(site.consumption_ct),
        storage_ct=zero_ct(site.storage_ct),
        inverters=tuple(
            dataclasses.replace(i, watts=0, joules_lifetime=0, wh_today=0, wh_week=0)
            for i in site.inverters
        ),
    )


def describe() -> str:
    """One line per fault, for ``--help`` and the docs."""
    return "\n".join(f"{kind.name}: {kind.summary}" for kind in KINDS.values())
