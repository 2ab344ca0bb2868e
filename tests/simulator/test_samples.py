"""sample_data/ is exactly what the code generates."""

from __future__ import annotations

from pathlib import Path

import pytest

from envoylog.simulator.model import SiteModel
from envoylog.simulator.profiles import PROFILES
from envoylog.simulator.samples import SAMPLES, write_samples
from envoylog.simulator.site import Site

COMMITTED = Path(__file__).resolve().parents[2] / "sample_data"


def files_of(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for name in SAMPLES
        for path in sorted((root / name).iterdir())
    }


def test_sample_data_regenerates_byte_identically(tmp_path: Path) -> None:
    write_samples(tmp_path)
    generated, committed = files_of(tmp_path), files_of(COMMITTED)
    assert sorted(generated) == sorted(committed)
    changed = [name for name in generated if generated[name] != committed[name]]
    assert changed == [], "run `python -m envoylog.simulator.samples` and commit sample_data/"


def test_sample_data_stays_small() -> None:
    size = sum(path.stat().st_size for path in COMMITTED.rglob("*") if path.is_file())
    assert size < 1_500_000


def devices(site: Site) -> tuple[object, ...]:
    """Who a gateway and its devices are, leaving out what they read."""
    return (
        (site.serial, site.firmware, site.part_number, site.timezone, site.metered),
        (site.phase_mode, site.phase_count, site.commissioned_at, site.software_built_at),
        [(i.serial, i.max_watts, i.installed_at, i.active) for i in site.inverters],
        [(b.serial, b.capacity_wh, b.max_watts, b.installed_at) for b in site.batteries],
        [
            (b.serial, b.part_number, b.capacity_wh, b.max_watts, b.installed_at)
            for b in site.iq_batteries
        ],
    )


@pytest.mark.parametrize("name", SAMPLES)
def test_a_sample_shows_the_devices_of_the_living_site(name: str) -> None:
    sample = SAMPLES[name]()
    live = SiteModel(PROFILES[name], origin=sample.instant).site_at(sample.instant)
    assert devices(sample) == devices(live)
