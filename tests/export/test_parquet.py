"""Parquet exports: typed columns, units on fields, an envoylog metadata record."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from energy_rows import BARN, HOUSE, add_gateway, add_monthly, tiny_site

from envoylog import __version__
from envoylog.db import Store, head_revision
from envoylog.export import ExportKind, frame, write

GENERATED = datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)


def parquet_of(store: Store, kind: ExportKind = ExportKind.DAILY) -> pa.Table:
    out = io.BytesIO()
    filters = {"gateways": [], "from": None, "to": None}
    write(frame(store, kind), kind, "parquet", out, filters=filters, generated_at=GENERATED)
    return pq.read_table(io.BytesIO(out.getvalue()))


def test_columns_have_proper_types(store: Store) -> None:
    tiny_site(store)
    schema = parquet_of(store).schema
    assert schema.field("date").type == pa.date32()
    assert schema.field("gateway").type == pa.string()
    assert schema.field("production_kwh").type == pa.float64()
    assert schema.field("peak_production_w").type == pa.int64()
    assert schema.field("corrections").type == pa.int64()


def test_units_ride_on_each_field(store: Store) -> None:
    tiny_site(store)
    schema = parquet_of(store).schema
    assert schema.field("production_kwh").metadata == {b"unit": b"kWh"}
    assert schema.field("coverage_pct").metadata == {b"unit": b"%"}
    assert schema.field("peak_production_w").metadata == {b"unit": b"W"}
    assert schema.field("gateway").metadata is None


def test_metadata_says_version_schema_timezones_and_filters(store: Store) -> None:
    tiny_site(store)
    meta = json.loads(parquet_of(store).schema.metadata[b"envoylog"])
    assert meta["version"] == __version__
    assert meta["schema_revision"] == head_revision()
    assert meta["kind"] == "daily"
    assert meta["generated_at"] == "2025-02-03T04:05:06+00:00"
    assert meta["timezones"] == {HOUSE: "Europe/Berlin", BARN: "America/New_York"}
    assert meta["units"]["import_kwh"] == "kWh"
    assert meta["units"]["self_sufficiency_pct"] == "%"
    assert meta["filters"] == {"gateways": [], "from": None, "to": None}
    assert meta["rows"] == 3


def test_values_and_nulls_round_trip(store: Store) -> None:
    tiny_site(store)
    back = parquet_of(store).to_pandas()
    expected = frame(store, ExportKind.DAILY)
    pd.testing.assert_frame_equal(back, expected)
    assert back["consumption_kwh"].isna().tolist() == [True, False, True]
    assert back["date"].tolist() == [date(2024, 3, 30), date(2024, 3, 30), date(2024, 3, 31)]


def test_monthly_month_is_a_date_of_its_first_day(store: Store) -> None:
    gateway = add_gateway(store, HOUSE, "house")
    add_monthly(store, gateway, date(2024, 3, 1), production_wh=1000.0)
    table = parquet_of(store, ExportKind.MONTHLY)
    assert table.schema.field("month").type == pa.date32()
    assert table.column("month").to_pylist() == [date(2024, 3, 1)]
