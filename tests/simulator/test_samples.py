"""sample_data/ is exactly what the code generates."""

from __future__ import annotations

from pathlib import Path

from envoylog.simulator.samples import SAMPLES, write_samples

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
