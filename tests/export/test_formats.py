"""CSV, Parquet and xlsx: the same values in each, serials as text, one format per extension."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from energy_rows import (
    BARN,
    HOUSE,
    add_inverter,
    add_inverter_daily,
    add_monthly,
    energy,
    insert_rows,
    tiny_site,
)
from test_cli import run

from envoylog.db import Store
from envoylog.export import ExportKind, Format, frame, read, write

INVERTER = "012345678901"  # a leading zero: an integer would lose it


def site_with_every_kind(store: Store) -> None:
    ids = tiny_site(store)
    inverter = add_inverter(store, ids["house"], INVERTER)
    add_inverter_daily(store, inverter, date(2024, 3, 30), wh=1234.5, peak_w=301.4)
    add_inverter_daily(store, inverter, date(2024, 3, 31), wh=None, coverage=0.0)
    add_monthly(store, ids["house"], date(2024, 3, 1), production_wh=39456.7, corrections=1)
    add_monthly(store, ids["barn"], date(2024, 3, 1), battery_charge_wh=1200.0, coverage=0.03)
    insert_rows(
        store,
        "hourly",
        [
            {
                "gateway_id": ids["house"],
                "start_at": datetime(2024, 3, 31, 0, tzinfo=UTC),
                "local_start": "2024-03-31T01:00:00+01:00",
                **energy(production_wh=12.3456),
            },
            {
                "gateway_id": ids["house"],
                "start_at": datetime(2024, 3, 31, 1, tzinfo=UTC),
                "local_start": "2024-03-31T03:00:00+02:00",
                **energy(production_wh=None, import_wh=0.0, coverage=0.5),
            },
        ],
    )


def written(df: pd.DataFrame, kind: ExportKind, fmt: Format) -> io.BytesIO:
    out = io.BytesIO()
    write(df, kind, fmt, out)
    return io.BytesIO(out.getvalue())


@pytest.mark.parametrize("fmt", ["csv", "parquet", "xlsx"])
@pytest.mark.parametrize("kind", list(ExportKind))
def test_every_format_reads_back_the_values_written(
    store: Store, kind: ExportKind, fmt: Format
) -> None:
    site_with_every_kind(store)
    df = frame(store, kind)
    assert len(df) >= 2

    again = read(written(df, kind, fmt), kind, fmt)

    pd.testing.assert_frame_equal(again, df, check_dtype=False)
    assert [str(t) for t in again.dtypes] == [str(t) for t in df.dtypes]


def test_plain_pandas_reads_parquet_serials_back_as_text(store: Store) -> None:
    site_with_every_kind(store)
    df = frame(store, ExportKind.INVERTERS)
    back = pd.read_parquet(written(df, ExportKind.INVERTERS, "parquet"))
    assert back["inverter_serial"].tolist()[-1] == INVERTER
    assert back["gateway_serial"].tolist()[0] == HOUSE


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_read_gives_serials_back_as_text_where_pandas_alone_would_guess_numbers(
    store: Store, fmt: Format
) -> None:
    site_with_every_kind(store)
    df = frame(store, ExportKind.INVERTERS)
    guessed = (pd.read_csv if fmt == "csv" else pd.read_excel)(
        written(df, ExportKind.INVERTERS, fmt)
    )
    back = read(written(df, ExportKind.INVERTERS, fmt), ExportKind.INVERTERS, fmt)
    assert guessed["inverter_serial"].tolist()[-1] == int(INVERTER)  # the trap read() avoids
    assert back["inverter_serial"].tolist()[-1] == INVERTER
    assert back["gateway_serial"].tolist()[0] == HOUSE


def test_xlsx_is_a_workbook_with_text_serials_and_date_cells(store: Store) -> None:
    tiny_site(store)
    book = openpyxl.load_workbook(written(frame(store, ExportKind.DAILY), ExportKind.DAILY, "xlsx"))
    sheet = book["daily"]
    header = [c.value for c in sheet[1]]
    serial, day = sheet.cell(2, header.index("gateway_serial") + 1), sheet.cell(2, 3)
    assert (serial.value, serial.data_type, serial.number_format) == (BARN, "s", "@")
    assert header[2] == "date" and day.is_date
    assert sheet.cell(2, header.index("consumption_kwh") + 1).value is None  # missing: empty


def test_an_xlsx_output_writes_a_workbook(store: Store, db_url: str, tmp_path: Path) -> None:
    tiny_site(store)
    target = tmp_path / "daily.xlsx"
    result = run("daily", "--db", db_url, "-o", str(target))
    assert result.exit_code == 0, result.output
    assert openpyxl.load_workbook(target).sheetnames == ["daily"]


def test_an_unknown_extension_is_refused_in_one_sentence(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    tiny_site(store)
    target = tmp_path / "daily.txt"
    result = run("daily", "--db", db_url, "-o", str(target))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: cannot tell the export format of {target} ('.txt'): name it .csv, .parquet "
        "or .xlsx, or give --format\n"
    )
    assert not target.exists()


def test_an_explicit_format_writes_any_name(store: Store, db_url: str, tmp_path: Path) -> None:
    tiny_site(store)
    target = tmp_path / "daily.txt"
    assert run("daily", "--db", db_url, "-o", str(target), "--format", "csv").exit_code == 0
    assert target.read_text().startswith("gateway,gateway_serial,date,")


def test_hourly_rows_name_the_local_hour_and_its_offset(store: Store) -> None:
    site_with_every_kind(store)
    out = io.StringIO()
    write(frame(store, ExportKind.HOURLY), ExportKind.HOURLY, "csv", out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("gateway,gateway_serial,date,hour,utc_offset,timezone,")
    assert lines[1].startswith(f"house,{HOUSE},2024-03-31,01:00,+01:00,Europe/Berlin,0.012,")
    assert lines[2].startswith(f"house,{HOUSE},2024-03-31,03:00,+02:00,Europe/Berlin,,,0.0,")
