"""envoylog.files.write_atomic: the one file writer (mode, whole replacement, nothing left over)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from envoylog.files import SHARED, remove_leftovers, write_atomic


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_private_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    old = os.umask(0)  # even a umask that allows everything
    try:
        write_atomic(tmp_path / "token", "secret\n")
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "token") == 0o600


def test_a_shared_file_gets_what_the_umask_allows(tmp_path: Path, umask_022: None) -> None:
    write_atomic(tmp_path / "status.json", "{}", mode=SHARED)
    assert mode_of(tmp_path / "status.json") == 0o644


def test_the_target_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "pins.json"
    target.write_text("old and longer than the new text")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert temp_files(tmp_path) == []


def test_a_durable_write_is_complete_when_it_returns(tmp_path: Path) -> None:
    write_atomic(tmp_path / "000000000001.json", "{}", durable=True)
    assert (tmp_path / "000000000001.json").read_text() == "{}"
    assert temp_files(tmp_path) == []


def test_a_failed_replace_leaves_the_target_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.mkdir()  # a folder in the way: the rename fails
    (target / "kept").write_text("x")
    with pytest.raises(OSError):
        write_atomic(target, "a,b\n", mode=SHARED)
    assert (target / "kept").read_text() == "x"
    assert temp_files(tmp_path) == []


def test_a_missing_folder_is_made(tmp_path: Path) -> None:
    write_atomic(tmp_path / "state" / "envoylog" / "status.json", "{}", mode=SHARED)
    assert (tmp_path / "state" / "envoylog" / "status.json").is_file()


def test_a_missing_folder_is_an_error_when_parents_is_false(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "unmounted" / "daily.csv", "a\n", parents=False)
    assert not (tmp_path / "unmounted").exists()


def test_leftovers_of_a_cut_write_are_removed_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "000000000001.json").write_text("{}")
    (tmp_path / ".000000000002.json.0a1b2c3d.tmp").write_text("{")
    remove_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000000000001.json"]
