"""The wheel ships every package, the migrations and the simulator's certificate."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

from support import REPO


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "envoylog").rglob("__init__.py")
    }
    on_disk |= {"envoylog.migrations", "envoylog.migrations.versions"}
    assert listed == on_disk
    assert config["package-dir"]["envoylog.migrations"] == "migrations"
    assert "*.pem" in config["package-data"]["envoylog.simulator"]


def test_no_sample_file_is_a_copy_of_a_real_capture(captures_dir: Path) -> None:
    def digests(folder: Path) -> dict[str, Path]:
        return {
            hashlib.md5(p.read_bytes()).hexdigest(): p
            for p in folder.rglob("*")
            if p.is_file() and p.stat().st_size > 200
        }

    copied = digests(captures_dir).keys() & digests(REPO / "sample_data").keys()
    assert not copied, "sample_data/ must be written by the project, not copied"
