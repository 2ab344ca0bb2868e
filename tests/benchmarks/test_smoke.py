"""Each benchmark once on tiny inputs, so the benchmark code does not rot (not a timed test)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import (  # noqa: E402
    bench_claims,
    bench_compaction,
    bench_fleet,
    bench_memory,
    bench_partitions,
    bench_poll,
    bench_report,
    bench_spool,
    bench_storage,
    bench_year,
    run,
)
from benchmarks.common import BATTERY_PAIR, NO_PG_ENV, Section, write_report  # noqa: E402


@pytest.fixture(autouse=True)
def sqlite_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL is covered by the fleet smoke test; the rest stay on SQLite to stay quick."""
    monkeypatch.setenv(NO_PG_ENV, "1")


def test_poll_benchmark_measures_envoylog_on_a_replayed_site() -> None:
    section = bench_poll.run(
        quick=True, sites=["legacy-5.0-nonmetered"], rounds=1, polls=2, venv=Path("/nowhere")
    )
    result = section.data["legacy-5.0-nonmetered"]
    assert result["sqlite"]["poll_s"]["median"] > 0
    assert result["sqlite"]["rows_per_poll"] > 0
    assert result["sqlite"]["per_minute_s"]["median"] > 0
    assert "pyenphase skipped" in section.notes[-1]


def test_pyenphase_side_runs_in_its_own_venv() -> None:
    python = bench_poll.pyenphase_python(bench_poll.DEFAULT_VENV)
    if python is None:
        pytest.skip(f"no venv with pyenphase at {bench_poll.DEFAULT_VENV} (ENVOYLOG_BENCH_VENV)")
    section = bench_poll.run(
        quick=True, sites=["metered-split-phase"], rounds=1, polls=2, venv=python.parents[1]
    )
    assert section.data["metered-split-phase"]["ratio_poll_sqlite"]["median"] > 0


def test_ingest_benchmark_compares_replay_with_executemany() -> None:
    section = run.ingest(quick=True, polls=6)
    assert section.data["SQLite"]["replay_vs_ceiling"]["median"] > 0


def test_spool_benchmark_times_puts_that_each_drop_the_oldest() -> None:
    result = bench_spool.run([20], 5).data["20"]
    assert result["cpu_ms_per_put"] > 0 and result["wall_ms_per_put"] >= result["cpu_ms_per_put"]


def test_compaction_benchmark_sizes_a_day_as_polled_and_compacted() -> None:
    result = bench_compaction.run(quick=True, days=1).data["sqlite"]
    assert result["compacted_bytes_per_day"] < result["full_bytes_per_day"]
    assert result["readings_after"] < result["readings_before"]


@pytest.mark.postgres
def test_partitions_benchmark_migrates_and_drops_a_month(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NO_PG_ENV)
    section = bench_partitions.run(quick=True, days=1)
    data = section.data
    assert data["upgrade_s"] > 0 and data["downgrade_s"] > 0
    for tables in ("plain", "partitioned"):
        assert data[tables]["reading_mb_after"] < data[tables]["reading_mb"]


def test_year_benchmark_rolls_up_exports_and_runs_the_naive_way() -> None:
    section = bench_year.run(quick=True, days=1)
    data = section.data["SQLite"]
    assert data["export_daily_rows"] >= 1
    assert data["naive"]["days"] >= 1


def test_report_benchmark_sizes_and_times_the_report_and_now() -> None:
    section = bench_report.run(quick=True, days=2)
    data = section.data["SQLite"]
    assert data["report_days"] == 3  # two days and the closing minute of a third
    assert 1_000_000 < data["report_bytes"] < bench_report.BUDGET_BYTES
    assert data["now_s"]["median"] > 0
    assert data["now_flows"] == ["consumption", "net", "production"]


def test_storage_benchmark_sets_a_battery_site_against_one_without() -> None:
    section = bench_storage.run(quick=True, sites=list(BATTERY_PAIR), minutes=30)
    battery = section.data[BATTERY_PAIR[0]]["sqlite"]
    assert (
        battery["rows"]["battery_readings"] > 0 and battery["rows"]["battery_system_readings"] > 0
    )
    assert any(note.startswith("Battery site against one without") for note in section.notes)


def test_storage_benchmark_sizes_a_logged_site() -> None:
    # An hour of polls: a few minutes' readings fit in each table's first page and size as nothing.
    section = bench_storage.run(quick=True, sites=["metered-split-phase"], minutes=60)
    sqlite = section.data["metered-split-phase"]["sqlite"]
    assert sqlite["polls"] == 60
    assert sqlite["bytes_per_reading"] > 0
    assert sqlite["raw_bytes_per_day"] > 0


def test_memory_benchmark_samples_the_service() -> None:
    section = bench_memory.run(quick=True, polls=4, fleet=2)
    assert section.data["1_gateways"]["polls"] >= 4


@pytest.mark.postgres
def test_fleet_step_logs_gateways_into_postgresql(pg_server: object) -> None:
    result = bench_fleet.run_step(
        pg_server,
        2,
        site="metered-split-phase",
        warmup_s=1.0,
        window_s=6.0,
        cadence_s=5,
        folder=Path(__import__("tempfile").mkdtemp()),
        rollup_interval_s=2,
    )
    assert result["polls"] >= 2
    assert "rollup_rounds" in result
    assert result["run_exit"] == [0]


@pytest.mark.postgres
def test_fleet_step_shares_the_gateways_among_processes(pg_server: object) -> None:
    result = bench_fleet.run_step(
        pg_server,
        4,
        site="metered-split-phase",
        warmup_s=3.0,
        window_s=6.0,
        cadence_s=5,
        folder=Path(__import__("tempfile").mkdtemp()),
        processes=2,
        stagger_s=1.0,
    )
    assert result["run_exit"] == [0, 0]
    assert len(result["runs"]) == 2
    assert result["gateways_polled"] == 4


def test_a_fleet_is_shared_among_processes_without_gap_or_overlap() -> None:
    assert bench_fleet.halves(10001, 2) == [(0, 5001), (5001, 5000)]
    assert bench_fleet.halves(3, 3) == [(0, 1), (1, 1), (2, 1)]


@pytest.mark.postgres
def test_claims_benchmark_claims_every_gateway_once_and_refuses_them_to_another(
    pg_server: object,
) -> None:
    result = bench_claims.run(pg_server, 20)
    assert (result["refused_by_first"], result["refused_by_second"]) == (0, 20)
    assert result["first_claim_us"] > result["owned_claim_us"] > 0


def test_on_time_counts_late_and_missing_ticks() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    polls = [(1, t0 + timedelta(seconds=60 * k)) for k in range(5)]
    polls += [(2, t0 + timedelta(seconds=60 * k + (10 if k == 2 else 0.5))) for k in range(4)]
    result = bench_fleet.on_time(polls, 2, t0, t0 + timedelta(seconds=300), 60)
    assert result["ticks"] == 5
    assert result["on_time_share"] == 0.8  # gateway 2: one late, one missing


def test_report_has_markdown_table_and_json(tmp_path: Path) -> None:
    section = Section("x", ["a", "b"], rows=[["1", "2"]], data={"k": 1})
    meta = {"when": "now", "machine": "here", "mode": "quick"}
    write_report([section], tmp_path / "r.md", tmp_path / "r.json", meta)
    assert "| 1 | 2 |" in (tmp_path / "r.md").read_text()
    assert '"k": 1' in (tmp_path / "r.json").read_text()


def test_on_time_follows_each_gateways_own_grid() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    polls = [(g, t0 + timedelta(seconds=30 * g + 60 * k)) for g in (0, 1) for k in range(5)]
    result = bench_fleet.on_time(polls, 2, t0, t0 + timedelta(seconds=300), 60)
    assert result["on_time_share"] == 1.0  # staggered by 30 s, each on its own minute


def test_on_time_reads_the_grid_from_the_services_first_ticks() -> None:
    """A first poll 8 s late (a busy start) must not make every later, punctual poll look
    52 s late: the grid is the service's, from its status file."""
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    polls = [
        (1, t0 - timedelta(seconds=52)),
        *((1, t0 + timedelta(seconds=60 * k)) for k in range(5)),
    ]
    by_first_poll = bench_fleet.on_time(polls, 1, t0, t0 + timedelta(seconds=300), 60)
    by_schedule = bench_fleet.on_time(
        polls, 1, t0, t0 + timedelta(seconds=300), 60, {1: (t0 - timedelta(seconds=60)).timestamp()}
    )
    assert by_first_poll["on_time_share"] == 0.0
    assert by_schedule["on_time_share"] == 1.0 and by_schedule["lateness_s_max"] == 0.0
