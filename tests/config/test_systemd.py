"""sd_notify over a real datagram socket; silent and harmless outside systemd."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from envoylog.service import systemd


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def test_ready_watchdog_stopping_arrive_in_order(notify_socket: socket.socket) -> None:
    assert systemd.ready() and systemd.watchdog() and systemd.stopping()
    received = [notify_socket.recv(4096) for _ in range(3)]
    assert received == [b"READY=1", b"WATCHDOG=1", b"STOPPING=1"]


def test_status_is_one_line(notify_socket: socket.socket) -> None:
    systemd.status("polling 2 gateways\nspool empty")
    assert notify_socket.recv(4096) == b"STATUS=polling 2 gateways spool empty"


def test_abstract_socket_names(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"envoylog-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.ready()
        assert sock.recv(4096) == b"READY=1"


def test_no_socket_is_a_no_op() -> None:
    assert systemd.ready() is False
    assert systemd.watchdog_interval() is None


def test_missing_socket_never_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert systemd.watchdog() is False


def test_watchdog_interval_from_usec() -> None:
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "120000000"}) == 120.0


def test_watchdog_for_another_process_is_ignored() -> None:
    env = {"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert systemd.watchdog_interval(env) is None
    env["WATCHDOG_PID"] = str(os.getpid())
    assert systemd.watchdog_interval(env) == 120.0


@pytest.mark.parametrize("value", ["", "0", "soon"])
def test_watchdog_interval_unset_or_nonsense(value: str) -> None:
    assert systemd.watchdog_interval({"WATCHDOG_USEC": value}) is None
