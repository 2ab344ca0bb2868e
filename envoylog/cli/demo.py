"""`envoylog demo`: try envoylog with no gateway and no configuration."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from envoylog.cli.options import DAY
from envoylog.cli.progress import progress_bar
from envoylog.demo import FLOWS, DemoResult, run_demo
from envoylog.paths import state_dir
from envoylog.simulator.profiles import PROFILES


@click.command()
@click.option(
    "--profile",
    type=click.Choice(sorted(PROFILES)),
    default="metered-split-phase",
    show_default=True,
    help="Which simulated site to log.",
)
@click.option(
    "--date",
    "day",
    type=DAY,
    help="The local day to simulate (default: yesterday in the site's timezone).",
)
@click.option(
    "--days",
    type=click.IntRange(1, 31),
    default=1,
    show_default=True,
    help="How many simulated days to log (about 15 s each).",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite file to write, replaced if it exists (default: demo.sqlite in the state folder).",
)
def demo(profile: str, day: date | None, days: int, db_path: Path | None) -> None:
    """Log one simulated day of a solar site into a SQLite file, then show what was stored.

    A simulated gateway runs faster than real time; envoylog polls it once a
    simulated minute with the same job, client, parsers and store worker as
    `envoylog run`. Takes well under a minute per simulated day.
    """
    db_path = db_path or state_dir() / "demo.sqlite"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    click.echo(f"Simulating a day of the {profile} site and logging it into {db_path} ...")
    with progress_bar("Logging simulated minutes") as progress:
        result = run_demo(db_path, profile=profile, day=day, days=days, progress=progress)
    click.echo(render(result))


def _span(result: DemoResult) -> str:
    first = f"{result.day:%A %d %B %Y}"
    return first if result.days == 1 else f"{result.days} days from {first}"


def _energy_lines(result: DemoResult) -> list[str]:
    """Each day's rolled-up energy (energy_daily) beside the simulator's ground truth."""
    lines = ["Energy per day: envoylog's rollup (energy_daily) and the simulator's truth, Wh:"]
    for day, truth in result.truth_days.items():
        logged = result.energy.get(day, {})
        coverage = logged.get("coverage")
        shown = "no rollup" if coverage is None else f"coverage {coverage:.3f}"
        lines.append(f"  {day:%Y-%m-%d} ({shown})      logged       truth   difference")
        for column, flow in FLOWS.items():
            wh, true_wh = logged.get(column), truth.get(flow, 0.0)
            if wh is None and not true_wh:
                continue
            text = "-" if wh is None else f"{wh:>10.0f}"
            diff = f"{100 * (wh - true_wh) / true_wh:+.2f}%" if wh is not None and true_wh else ""
            lines.append(f"    {flow:<18} {text:>10} {true_wh:>11.0f} {diff:>12}")
    return lines


def render(result: DemoResult) -> str:
    """Summarise a demo run and say what to try next."""
    lines = [
        f"Logged {_span(result)} ({result.timezone}): {result.polls} polls; "
        f"{result.quiet_ticks} minutes skipped in the gateway's nightly quiet window.",
        "Rows stored:",
        *(
            f"  {table:<23} {count:>7}"
            for table, count in result.rows.items()
            if count or not table.startswith("batter")  # battery tables: where there are some
        ),
        *_energy_lines(result),
        f"Database: {result.db_path}",
        "Try next:",
        f"  envoylog report --db {result.db_path} -o report.html   # charts, offline",
        f"  envoylog export daily --db {result.db_path}          # CSV for a spreadsheet",
        f"  envoylog export inverters --db {result.db_path} -o inverters.parquet",
        f'  sqlite3 {result.db_path} "select local_start, production_wh, consumption_wh,'
        ' coverage from energy_hourly order by start_at"',
        f"  envoylog status --db {result.db_path}",
        "  docs/schema.md has a dozen more queries; docs/exports.md describes every column.",
    ]
    return "\n".join(lines)
