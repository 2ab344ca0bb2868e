"""A frozen PostgreSQL (SIGSTOP) under `envoylog run`: every poll spooled, a stop within 30 s,
and after the thaw every poll stored once, in order (benchmarks/bench_frozen_db.py, short)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pg_server import PostgresServer

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import bench_frozen_db  # noqa: E402


@pytest.fixture(scope="module")
def frozen_run(
    module_pg: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    """One run: two polls stored, then PostgreSQL frozen for 15 s, polls every 5 s."""
    folder = tmp_path_factory.mktemp("frozen")
    return bench_frozen_db.run(module_pg, folder, frozen_s=15, tick_s=5, db_timeout_s=2)


@pytest.mark.postgres
def test_sigterm_during_the_freeze_ends_the_service_within_30_s(
    frozen_run: dict[str, object],
) -> None:
    assert frozen_run["exit_code"] == 0
    assert float(frozen_run["stop_s"]) <= bench_frozen_db.STOP_BUDGET_S  # type: ignore[arg-type]


@pytest.mark.postgres
def test_every_poll_made_during_the_freeze_waits_in_the_spool(
    frozen_run: dict[str, object],
) -> None:
    made = int(frozen_run["polls_made_before_stop"])  # type: ignore[call-overload]
    spooled = int(frozen_run["polls_in_spool_at_stop"])  # type: ignore[call-overload]
    stored = int(frozen_run["polls_stored_before_freeze_ended"])  # type: ignore[call-overload]
    # A commit sent just before the freeze may land after the thaw as well: never fewer.
    assert stored + spooled >= made
    assert spooled >= 3


@pytest.mark.postgres
def test_after_the_thaw_every_poll_is_stored_once_in_order(frozen_run: dict[str, object]) -> None:
    assert frozen_run["polls_lost"] == 0
    assert frozen_run["polls_duplicated"] == 0
    assert frozen_run["stored_in_order"] is True
    assert frozen_run["exit_code_after"] == 0


@pytest.mark.postgres
def test_the_outage_is_one_warning_not_one_per_poll(frozen_run: dict[str, object]) -> None:
    assert frozen_run["warnings_unavailable"] == 1
    assert frozen_run["tracebacks"] == 0
