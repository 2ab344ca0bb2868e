"""CSV exports: exact header with units, local dates, empty cells for missing figures."""

from __future__ import annotations

import io
import re
from datetime import date

from energy_rows import HOUSE, add_daily, add_gateway, add_monthly, tiny_site

from envoylog.db import Store
from envoylog.export import ExportKind, export, frame, write

DAILY_HEADER = (
    "gateway,gateway_serial,date,timezone,production_kwh,consumption_kwh,import_kwh,"
    "export_kwh,net_grid_kwh,battery_charge_kwh,battery_discharge_kwh,self_consumption_kwh,"
    "self_sufficiency_pct,peak_production_w,coverage_pct,estimated_kwh,corrections,"
    "production_source,consumption_source,grid_source,battery_source,"
    "battery_soc_min_pct,battery_soc_max_pct,battery_soc_end_pct"
)
DAILY_ROWS = [
    "202400000001,202400000001,2024-03-30,America/New_York,5.0,,,,,1.2,0.8,,,,100.0,0.0,0,,,,"
    "storage-ct,12.0,96.5,80.0",
    "house,122233445566,2024-03-30,Europe/Berlin,21.457,15.0,4.0,10.457,-6.457,,,11.0,73.3,4523,"
    "100.0,0.0,0,production-ct-delivered,total-ct-delivered,net-ct,,,,",
    "house,122233445566,2024-03-31,Europe/Berlin,18.0,,,,,,,,,,95.7,0.12,1,eim-production,,,,,,",
]


def csv_of(store: Store, kind: ExportKind = ExportKind.DAILY, **filters: object) -> str:
    out = io.StringIO()
    export(store, kind, fmt="csv", output=out, **filters)  # type: ignore[arg-type]
    return out.getvalue()


def test_daily_csv_is_exactly_the_golden_text(store: Store) -> None:
    tiny_site(store)
    assert csv_of(store) == "\n".join([DAILY_HEADER, *DAILY_ROWS]) + "\n"


def test_missing_figures_are_empty_cells_and_zero_stays_zero(store: Store) -> None:
    gateway = add_gateway(store, HOUSE, "house")
    add_daily(store, gateway, date(2024, 6, 1), production_wh=0.0, export_wh=None)
    row = dict(zip(DAILY_HEADER.split(","), csv_of(store).splitlines()[1].split(","), strict=True))
    assert row["production_kwh"] == "0.0"
    assert row["export_kwh"] == ""


def test_no_scientific_notation_and_no_negative_zero(store: Store) -> None:
    gateway = add_gateway(store, HOUSE, "house")
    add_daily(
        store,
        gateway,
        date(2024, 6, 1),
        production_wh=123456789.4,
        import_wh=0.4,
        net_grid_wh=-0.2,
        self_sufficiency=0.00001,
    )
    row = dict(zip(DAILY_HEADER.split(","), csv_of(store).splitlines()[1].split(","), strict=True))
    numbers = {k: v for k, v in row.items() if k.endswith(("_kwh", "_pct", "_w"))}
    assert all(re.fullmatch(r"-?\d+(\.\d+)?|", v) for v in numbers.values()), numbers
    assert numbers["production_kwh"] == "123456.789"
    assert numbers["import_kwh"] == numbers["net_grid_kwh"] == "0.0"
    assert numbers["self_sufficiency_pct"] == "0.0"


def test_monthly_csv_names_the_month_as_year_and_month(store: Store) -> None:
    gateway = add_gateway(store, HOUSE, "house")
    add_monthly(store, gateway, date(2024, 3, 1), production_wh=512345.0)
    lines = csv_of(store, ExportKind.MONTHLY).splitlines()
    assert lines[0].startswith("gateway,gateway_serial,month,timezone,production_kwh,")
    assert lines[1].startswith("house,122233445566,2024-03,Europe/Berlin,512.345,")


def test_bom_only_when_asked(store: Store) -> None:
    tiny_site(store)
    df = frame(store, ExportKind.DAILY)
    plain, marked = io.BytesIO(), io.BytesIO()
    write(df, ExportKind.DAILY, "csv", plain)
    write(df, ExportKind.DAILY, "csv", marked, bom=True)
    assert plain.getvalue().startswith(b"gateway,")
    assert marked.getvalue() == b"\xef\xbb\xbf" + plain.getvalue()


def test_a_dst_day_is_exported_under_its_local_date(store: Store) -> None:
    tiny_site(store)
    lines = csv_of(store, gateways=["house"], start=date(2024, 3, 31)).splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("house,122233445566,2024-03-31,Europe/Berlin,18.0,")
