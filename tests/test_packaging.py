"""The wheel ships every package, the migrations and the simulator's certificate."""

from __future__ import annotations

import tomllib

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
