"""Energy exports: the energy tables as pandas frames, written as CSV, Parquet or xlsx.

Exports speak the gateway's local calendar: an hour is the gateway's local hour
with its UTC offset, a day its local date, a month its local month, exactly as
the rollup cut them. Energy is in kWh with three decimals (1 Wh, the resolution
of the counters), ratios in percent. The same columns, units and values go to
every format; a missing figure is an empty cell (CSV, xlsx) or a null (Parquet),
never 0; serials are text everywhere.
"""

from __future__ import annotations

import enum
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from envoylog import __version__
from envoylog.db import Store, head_revision
from envoylog.db.energy import select_gateways
from envoylog.db.exports import Rows, fetch_rows
from envoylog.energy.rollup import catch_up
from envoylog.errors import ConfigError
from envoylog.files import SHARED, write_atomic

Format = Literal["csv", "parquet", "xlsx"]
FORMATS: dict[str, Format] = {".csv": "csv", ".parquet": "parquet", ".xlsx": "xlsx"}
Progress = Callable[[int, int], None]
METADATA_KEY = b"envoylog"


class ExportKind(enum.StrEnum):
    HOURLY = "hourly"
    DAILY = "daily"
    MONTHLY = "monthly"
    INVERTERS = "inverters"


Convert = Literal[
    "label",
    "text",
    "date",
    "local_date",
    "local_hour",
    "offset",
    "kwh",
    "pct",
    "percent",
    "w",
    "count",
]


@dataclass(frozen=True, slots=True)
class Column:
    """One export column: its header, the query column it comes from, its unit."""

    name: str
    source: str
    convert: Convert
    unit: str | None = None


_HEAD = (
    Column("gateway", "gateway_name", "label"),
    Column("gateway_serial", "gateway_serial", "text"),
)
_ENERGY = (
    Column("production_kwh", "production_wh", "kwh", "kWh"),
    Column("consumption_kwh", "consumption_wh", "kwh", "kWh"),
    Column("import_kwh", "import_wh", "kwh", "kWh"),
    Column("export_kwh", "export_wh", "kwh", "kWh"),
    Column("net_grid_kwh", "net_grid_wh", "kwh", "kWh"),
    Column("battery_charge_kwh", "battery_charge_wh", "kwh", "kWh"),
    Column("battery_discharge_kwh", "battery_discharge_wh", "kwh", "kWh"),
    Column("self_consumption_kwh", "self_consumption_wh", "kwh", "kWh"),
    Column("self_sufficiency_pct", "self_sufficiency", "pct", "%"),
    Column("peak_production_w", "peak_production_w", "w", "W"),
    Column("coverage_pct", "coverage", "pct", "%"),
    Column("estimated_kwh", "estimated_wh", "kwh", "kWh"),
    Column("corrections", "corrections", "count"),
    Column("production_source", "production_source", "text"),
    Column("consumption_source", "consumption_source", "text"),
    Column("grid_source", "grid_source", "text"),
    Column("battery_source", "battery_source", "text"),
    Column("battery_soc_min_pct", "soc_min_pct", "percent", "%"),
    Column("battery_soc_max_pct", "soc_max_pct", "percent", "%"),
    Column("battery_soc_end_pct", "soc_end_pct", "percent", "%"),
)
_TIMEZONE = Column("timezone", "timezone", "text")

COLUMNS: dict[ExportKind, tuple[Column, ...]] = {
    ExportKind.HOURLY: (
        *_HEAD,
        Column("date", "local_start", "local_date"),
        Column("hour", "local_start", "local_hour"),
        Column("utc_offset", "local_start", "offset"),
        _TIMEZONE,
        *_ENERGY,
    ),
    ExportKind.DAILY: (*_HEAD, Column("date", "day", "date"), _TIMEZONE, *_ENERGY),
    ExportKind.MONTHLY: (*_HEAD, Column("month", "month", "date"), _TIMEZONE, *_ENERGY),
    ExportKind.INVERTERS: (
        *_HEAD,
        Column("inverter_serial", "inverter_serial", "text"),
        Column("date", "day", "date"),
        _TIMEZONE,
        Column("energy_kwh", "wh", "kwh", "kWh"),
        Column("peak_w", "peak_w", "w", "W"),
        Column("coverage_pct", "coverage", "pct", "%"),
        Column("source", "source", "text"),
        Column("corrections", "corrections", "count"),
    ),
}


# Text however they look: serials are digits, but no reader may make numbers of them.
IDENTIFIERS = ("gateway", "gateway_serial", "inverter_serial")


def format_for(path: str) -> Format:
    """The format a file name asks for by its extension; '-' (standard output) is CSV."""
    if path == "-":
        return "csv"
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        named = f"'{suffix}'" if suffix else "no extension"
        raise ConfigError(
            f"cannot tell the export format of {path} ({named}): name it .csv, .parquet "
            "or .xlsx, or give --format"
        )
    return FORMATS[suffix]


def period_column(kind: ExportKind) -> str:
    """The column holding each row's local period: ``month`` or ``date``."""
    return "month" if kind is ExportKind.MONTHLY else "date"


def units(kind: ExportKind) -> dict[str, str]:
    """Unit of every column that has one."""
    return {c.name: c.unit for c in COLUMNS[kind] if c.unit}


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export wrote: rows, gateways (as labelled), first and last period, file."""

    rows: int
    gateways: tuple[str, ...]
    first: date | None
    last: date | None
    path: Path | None


def frame(
    store: Store,
    kind: ExportKind,
    *,
    gateways: Sequence[str] = (),
    start: date | None = None,
    end: date | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Read one export as a frame, sorted by gateway then local date (inclusive range)."""
    kind = ExportKind(kind)
    if start is not None and end is not None and start > end:
        raise ConfigError(f"the date range is empty: {start} is after {end}")
    ids = [g.id for g in select_gateways(store, gateways)] if gateways else None
    rows = fetch_rows(store, kind.value, gateway_ids=ids, start=start, end=end, progress=progress)
    return build_frame(kind, rows)


def build_frame(kind: ExportKind, rows: Rows) -> pd.DataFrame:
    """Turn query rows into the export's columns, units and dtypes."""
    by_name: dict[str, Sequence[Any]] = dict.fromkeys(rows.columns, ())
    if rows.rows:
        by_name = dict(zip(rows.columns, zip(*rows.rows, strict=True), strict=True))
    data: dict[str, Any] = {}
    for column in COLUMNS[kind]:
        values = by_name[column.source]
        if column.convert == "label":
            names = pd.Series(values, dtype="str")
            data[column.name] = names.where(names.notna(), pd.Series(by_name["gateway_serial"]))
        else:
            data[column.name] = _convert(column.convert, values)
    return pd.DataFrame(data)


def _convert(convert: Convert, values: Sequence[Any]) -> Any:
    if convert == "text":
        return pd.Series(values, dtype="str")
    if convert == "date":
        return pd.arrays.ArrowExtensionArray(pa.array(values, type=pa.date32()))
    if convert == "local_date":  # '2024-10-27T02:00:00+01:00' -> its local date
        return _convert("date", [date.fromisoformat(v[:10]) for v in values])
    if convert == "local_hour":  # -> '02:00'
        return pd.Series([v[11:16] for v in values], dtype="str")
    if convert == "offset":  # -> '+01:00'
        return pd.Series([v[19:] for v in values], dtype="str")
    if convert == "count":
        return pd.array(list(values), dtype="Int64")
    numbers = np.array(values, dtype=np.float64)
    if convert == "w":
        return pd.Series(np.round(numbers)).astype("Int64")
    if convert == "kwh":
        return np.round(numbers / 1000.0, 3) + 0.0  # + 0.0: no "-0.0" cells
    if convert == "percent":  # the tables hold a state of charge in %
        return np.round(numbers, 1) + 0.0
    return np.round(numbers * 100.0, 1) + 0.0  # pct: the tables hold fractions


def summarize(df: pd.DataFrame, kind: ExportKind, path: Path | None = None) -> ExportSummary:
    """Rows, gateways and first/last period of a frame."""
    if df.empty:
        return ExportSummary(0, (), None, None, path)
    periods = df[period_column(kind)]
    return ExportSummary(
        rows=len(df),
        gateways=tuple(dict.fromkeys(df["gateway"].tolist())),
        first=periods.min(),
        last=periods.max(),
        path=path,
    )


def write(
    df: pd.DataFrame,
    kind: ExportKind,
    fmt: Format,
    output: Path | IO[bytes] | IO[str],
    *,
    filters: Mapping[str, Any] | None = None,
    generated_at: datetime | None = None,
    bom: bool = False,
) -> ExportSummary:
    """Write a frame from :func:`frame` as CSV, Parquet or xlsx to a file or an open stream."""
    kind = ExportKind(kind)
    payload: bytes | str
    if fmt == "csv":
        payload = ("\ufeff" if bom else "") + csv_text(df, kind)
    elif fmt in ("parquet", "xlsx"):
        if isinstance(output, io.TextIOBase):
            raise ConfigError(f"{fmt} is binary: write it to a file or a binary stream")
        if fmt == "xlsx":
            payload = xlsx_bytes(df, kind)
        else:
            metadata = export_metadata(df, kind, filters or {}, generated_at or datetime.now(UTC))
            payload = parquet_bytes(df, kind, metadata)
    else:
        raise ConfigError(f"unknown export format {fmt!r}: use csv, parquet or xlsx")
    if isinstance(output, Path):
        write_file(output, payload)
        return summarize(df, kind, output)
    if isinstance(output, io.TextIOBase):
        output.write(payload if isinstance(payload, str) else payload.decode())
    else:
        output.write(payload.encode() if isinstance(payload, str) else payload)  # type: ignore[arg-type]
    output.flush()
    return summarize(df, kind)


def write_file(path: Path, payload: bytes | str, *, what: str = "the export") -> None:
    """Write an export or report whole, with one sentence when the file cannot be written."""
    try:
        # A failed export never leaves half a file under the name; a missing folder is
        # an error (a mistyped or unmounted path), not something to create.
        write_atomic(path, payload, mode=SHARED, parents=False)
    except OSError as exc:
        raise ConfigError(f"cannot write {what} to {path}: {exc.strerror or exc}") from exc


def csv_text(df: pd.DataFrame, kind: ExportKind) -> str:
    """CSV: header row, comma, '.' decimals, ISO dates (months YYYY-MM), empty cells for missing."""
    column = period_column(kind)
    # Arrow formats the dates in one call; pandas would format them one by one.
    iso = pa.array(df[column].array).cast(pa.string())
    if kind is ExportKind.MONTHLY:
        iso = pc.utf8_slice_codeunits(iso, 0, 7)
    df = df.assign(**{column: pd.Series(iso, dtype="str", index=df.index)})
    return df.to_csv(index=False, na_rep="", lineterminator="\n")


def xlsx_bytes(df: pd.DataFrame, kind: ExportKind) -> bytes:
    """An Excel workbook (openpyxl): one sheet named after the kind, dates as dates, serials
    as text cells, missing figures as empty cells."""
    cells = df.copy()
    for column in cells.columns:
        if isinstance(cells[column].dtype, pd.ArrowDtype):  # dates: openpyxl wants date objects
            cells[column] = pd.Series(cells[column].tolist(), dtype=object, index=cells.index)
    sink = io.BytesIO()
    with pd.ExcelWriter(sink, engine="openpyxl", date_format="YYYY-MM-DD") as writer:
        cells.to_excel(writer, sheet_name=kind.value, index=False, na_rep="")
        sheet = writer.sheets[kind.value]
        for index, name in enumerate(cells.columns, start=1):
            if name in IDENTIFIERS:  # Excel's Text format: an edited serial stays text
                for (cell,) in sheet.iter_rows(min_col=index, max_col=index, min_row=2):
                    cell.number_format = "@"
    return sink.getvalue()


def read(source: Path | IO[bytes], kind: ExportKind, fmt: Format) -> pd.DataFrame:
    """Read an export back with its own column types (serials as text, dates as dates).

    A CSV carries no types: ``pandas.read_csv`` alone reads serials that look numeric
    as integers, so this names the text columns for it.
    """
    kind = ExportKind(kind)
    text = {c.name: "str" for c in COLUMNS[kind] if c.convert not in _NUMERIC}
    if fmt == "parquet":
        raw = pq.read_table(source).to_pandas()
    elif fmt == "xlsx":
        raw = pd.read_excel(source, sheet_name=kind.value, dtype=text, engine="openpyxl")
    else:
        raw = pd.read_csv(source, dtype=text, keep_default_na=False, na_values={})
    data: dict[str, Any] = {}
    for column in COLUMNS[kind]:
        values = [None if _missing(v) else v for v in raw[column.name].tolist()]
        if column.convert in _NUMERIC:
            numbers = np.array([np.nan if v is None else float(v) for v in values])
            data[column.name] = (
                pd.Series(numbers).round().astype("Int64")
                if column.convert in ("w", "count")
                else numbers + 0.0
            )
        elif column.convert in ("date", "local_date"):
            days = [_as_date(v) for v in values]
            data[column.name] = pd.arrays.ArrowExtensionArray(pa.array(days, type=pa.date32()))
        else:
            data[column.name] = pd.Series(values, dtype="str")
    return pd.DataFrame(data)


_NUMERIC = ("kwh", "pct", "percent", "w", "count")


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value == "" or bool(pd.isna(value))


def _as_date(value: Any) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime | pd.Timestamp):
        return value.date()
    text = str(value)
    return date.fromisoformat(text + "-01" if len(text) == 7 else text[:10])


def export_metadata(
    df: pd.DataFrame, kind: ExportKind, filters: Mapping[str, Any], generated_at: datetime
) -> dict[str, Any]:
    """What the Parquet file says about itself under the ``envoylog`` key."""
    zones = dict(zip(df["gateway_serial"], df["timezone"], strict=True))
    return {
        "version": __version__,
        "schema_revision": head_revision(),
        "kind": kind.value,
        "generated_at": generated_at.astimezone(UTC).isoformat(timespec="seconds"),
        "units": units(kind),
        "timezones": {serial: None if pd.isna(z) else z for serial, z in zones.items()},
        "periods": f"{period_column(kind)} is the gateway's local "
        + ("month (its first day)" if kind is ExportKind.MONTHLY else "date"),
        "filters": dict(filters),
        "rows": len(df),
    }


def parquet_bytes(df: pd.DataFrame, kind: ExportKind, metadata: Mapping[str, Any]) -> bytes:
    """Parquet with date32, float64, int64 and string columns, units on each field."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    unit_of = units(kind)
    fields = [
        pa.field(
            f.name,
            pa.string() if pa.types.is_large_string(f.type) else f.type,
            metadata={b"unit": unit_of[f.name].encode()} if f.name in unit_of else None,
        )
        for f in table.schema
    ]
    schema = pa.schema(fields, metadata={**(table.schema.metadata or {})})
    schema = schema.with_metadata(
        {**(schema.metadata or {}), METADATA_KEY: json.dumps(metadata).encode()}
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table.cast(schema), sink)
    return bytes(sink.getvalue().to_pybytes())


def export(
    store: Store,
    kind: ExportKind,
    *,
    gateways: Sequence[str] = (),
    start: date | None = None,
    end: date | None = None,
    fmt: Format = "csv",
    output: Path | IO[bytes] | IO[str],
    progress: Progress | None = None,
    bom: bool = False,
    timezone_override: Mapping[str, str] | None = None,
) -> ExportSummary:
    """Export one kind of energy; an empty result writes nothing (``rows == 0``).

    Days with readings newer than their energy are recomputed first (catch_up), so
    an export after ``envoylog poll`` shows what was just logged.
    """
    kind = ExportKind(kind)
    catch_up(store, select_gateways(store, gateways), end=end, timezone_override=timezone_override)
    df = frame(store, kind, gateways=gateways, start=start, end=end, progress=progress)
    if df.empty:
        return summarize(df, kind)
    filters = {
        "gateways": list(gateways),
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
    }
    return write(df, kind, fmt, output, filters=filters, bom=bom)
