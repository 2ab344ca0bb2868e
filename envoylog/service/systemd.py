"""Tell systemd how the service is doing: the sd_notify datagram protocol, without libsystemd.

Every function is a no-op when the process was not started by systemd with
``Type=notify`` (no ``$NOTIFY_SOCKET``) and never raises: a notification that cannot
be sent is logged at debug level and forgotten, as sd_notify(3) does.

Kept by hand on purpose: the protocol is one datagram to one socket. systemd-python
and cysystemd need libsystemd compiled in. Of the pure-Python packages, sdnotify (last
released in 2017) reads $NOTIFY_SOCKET once at construction and has no watchdog
interval (sd_watchdog_enabled(3)), and systemd-watchdog (one maintainer) raises on a
failed send; either would need a wrapper taking an injected environment (what the
tests drive) that never raises, as long as this module.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)

SOCKET_ENV = "NOTIFY_SOCKET"


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send one notification (``"READY=1"``, ``"STATUS=..."``); say whether it was sent."""
    env = os.environ if environ is None else environ
    address = env.get(SOCKET_ENV, "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # Linux abstract namespace
    elif not address.startswith("/"):
        log.debug("notify_skipped reason=unsupported_socket address=%s", address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode(), address)
    except OSError as exc:
        log.debug("notify_failed state=%s error=%s", state.split("=")[0], exc)
        return False
    return True


def ready(environ: Mapping[str, str] | None = None) -> bool:
    """The service is up: config valid, storage usable, scheduler running."""
    return notify("READY=1", environ)


def stopping(environ: Mapping[str, str] | None = None) -> bool:
    """The service is shutting down."""
    return notify("STOPPING=1", environ)


def watchdog(environ: Mapping[str, str] | None = None) -> bool:
    """The service is healthy; send only while polls are being stored or spooled."""
    return notify("WATCHDOG=1", environ)


def status(text: str, environ: Mapping[str, str] | None = None) -> bool:
    """A one-line status shown by ``systemctl status``."""
    return notify("STATUS=" + " ".join(text.split()), environ)


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds within which systemd expects WATCHDOG=1, or None when no watchdog is set.

    Ping at half this interval, as sd_watchdog_enabled(3) recommends.
    """
    env = os.environ if environ is None else environ
    pid = env.get("WATCHDOG_PID", "").strip()
    if pid and pid != str(os.getpid()):
        return None  # the watchdog is meant for another process (a parent that exec'd us)
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None
