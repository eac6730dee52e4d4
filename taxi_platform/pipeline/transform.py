"""Raw TLC CSV.gz -> typed, cleaned parquet, streamed in bounded memory.

Cleaning policy (the same for every dataset, driven by `datasets.py`):
- Headers are matched to the schema case-insensitively (a UTF-8 BOM and CR are ignored).
  A missing required column is an error; a missing optional column lands as nulls; unknown
  extra columns are dropped and listed in the report.
- Integer columns are read as numbers and must be whole (TLC writes them as "1.0" in months
  where NaNs occur); they land as nullable int64. Empty cells stay null: passenger_count and
  friends are never filled in.
- `store_and_fwd_flag` keeps "Y"/"N" (any case, trimmed); anything else becomes null.
- Timestamps are TLC's wall-clock values stored as TIMESTAMP (UTC), as the course did.
- A row is rejected (counted, with examples naming line, column and value) when a cell cannot
  be parsed as its column's type, an integer is not whole, or the pickup time is missing.
- Rows whose pickup falls outside the partition month stay in the month's file (counted).
- Negative amounts (refunds) are kept.

Clean files are parsed by Arrow's multi-threaded typed reader; if any cell fails to parse,
the file is read again as text and checked cell by cell, so bad rows are rejected, not fatal.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from taxi_platform.datasets import SOURCE_MONTH, Column, Kind, TaxiDataset
from taxi_platform.partitions import month_start, next_month
from taxi_platform.pipeline.files import atomic_write_path

BLOCK_SIZE = 16 << 20
MAX_EXAMPLES = 20
_PARSE_TYPES: dict[Kind, pa.DataType] = {
    Kind.INT: pa.float64(),
    Kind.FLOAT: pa.float64(),
    Kind.STRING: pa.string(),
    Kind.TIMESTAMP: pa.timestamp("us"),
}
_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


class SourceFileError(ValueError):
    """A source file that cannot be landed; the message names the file, month and reason."""

    def __init__(self, path: Path, month: str, reason: str) -> None:
        super().__init__(f"{path.name} (month {month}): {reason}")


@dataclass(frozen=True)
class Rejection:
    line: int
    column: str
    value: str
    reason: str


@dataclass
class CleanReport:
    """What cleaning one month did: counts for metadata and checks."""

    rows_read: int = 0
    rows_written: int = 0
    rejected: int = 0
    out_of_month: int = 0
    unknown_columns: list[str] = field(default_factory=list)
    missing_optional_columns: list[str] = field(default_factory=list)
    examples: list[Rejection] = field(default_factory=list)

    def reject(self, rows: int, examples: list[Rejection]) -> None:
        self.rejected += rows
        self.examples.extend(examples[: MAX_EXAMPLES - len(self.examples)])


def read_header(path: Path, month: str) -> list[str]:
    """The file's header cells, with BOM, CR and quotes removed."""
    try:
        with gzip.open(path, "rb") as fh:
            line = fh.readline()
    except (OSError, EOFError, zlib.error) as err:
        raise SourceFileError(path, month, f"not a readable gzip file ({err})") from err
    text = line.decode("utf-8-sig", errors="replace").strip()
    if not text:
        raise SourceFileError(path, month, "empty file: no header line")
    return [cell.strip().strip('"') for cell in text.split(",")]


def match_columns(
    header: list[str], ds: TaxiDataset, path: Path, month: str, report: CleanReport
) -> dict[str, Column]:
    """Map each header cell to its schema column; unknown cells map to nothing."""
    by_key = {}
    for col in ds.columns:
        by_key[col.source.lower()] = col
        by_key[col.name.lower()] = col
    matched: dict[str, Column] = {}
    for cell in header:
        col = by_key.get(cell.lower())
        if col is None or col in matched.values():
            report.unknown_columns.append(cell)
        else:
            matched[cell] = col
    present = set(matched.values())
    missing = [c for c in ds.columns if c not in present]
    if required := [c.source for c in missing if c.required]:
        raise SourceFileError(path, month, f"missing required column(s) {', '.join(required)}")
    report.missing_optional_columns = [c.source for c in missing]
    return matched


def _header_names(header: list[str]) -> list[str]:
    """Unique names for the reader (duplicate or empty header cells get a suffix)."""
    seen: dict[str, int] = {}
    names = []
    for cell in header:
        seen[cell] = seen.get(cell, 0) + 1
        names.append(cell if seen[cell] == 1 else f"{cell}__{seen[cell]}")
    return names


def _reader(
    path: Path, header: list[str], matched: dict[str, Column], typed: bool
) -> pacsv.CSVStreamingReader:
    column_types = {
        cell: (_PARSE_TYPES[col.kind] if typed else pa.string()) for cell, col in matched.items()
    }
    return pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(
            column_names=_header_names(header), skip_rows=1, block_size=BLOCK_SIZE
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=column_types,
            include_columns=list(matched),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            timestamp_parsers=[_TIMESTAMP_FORMAT, pacsv.ISO8601],
        ),
    )


def _examples(
    bad: np.ndarray, text: pa.Array | None, first_line: int, col: Column, reason: str
) -> list[Rejection]:
    rows = np.flatnonzero(bad)[:MAX_EXAMPLES]
    return [
        Rejection(
            line=first_line + int(i),
            column=col.source,
            value="" if text is None else str(text[int(i)].as_py()),
            reason=reason,
        )
        for i in rows
    ]


def _parse_text(text: pa.Array, col: Column) -> pa.Array:
    """Parse a text column to its read type; unparseable cells become null."""
    if col.kind is Kind.STRING:
        return text
    if col.kind is Kind.TIMESTAMP:
        trimmed = pc.utf8_trim_whitespace(text)
        return pc.strptime(trimmed, format=_TIMESTAMP_FORMAT, unit="us", error_is_null=True)
    numbers = pd.to_numeric(text.to_pandas(), errors="coerce")
    return pa.array(numbers, type=pa.float64(), from_pandas=True)


def _to_landed(values: pa.Array, col: Column) -> tuple[pa.Array, np.ndarray, str]:
    """Convert a parsed column to its landed type; returns values, bad-row mask, reason."""
    no_bad = np.zeros(len(values), dtype=bool)
    if col.kind is Kind.INT:
        whole = pc.fill_null(pc.equal(pc.floor(values), values), True)
        bad = ~whole.to_numpy(zero_copy_only=False)
        safe = pc.if_else(whole, values, None)
        return pc.cast(safe, pa.int64()), bad, "not a whole number"
    if col.kind is Kind.TIMESTAMP:
        return values.cast(pa.timestamp("us", tz="UTC")), no_bad, ""
    if col.name == "store_and_fwd_flag":
        flag = pc.utf8_upper(pc.utf8_trim_whitespace(values))
        return pc.if_else(pc.is_in(flag, pa.array(["Y", "N"])), flag, None), no_bad, ""
    return values, no_bad, ""


def clean_batch(
    batch: pa.RecordBatch,
    matched: dict[str, Column],
    ds: TaxiDataset,
    month: str,
    first_line: int,
    typed: bool,
    report: CleanReport,
) -> pa.Table:
    """Type, check and order one batch; rejected rows are counted in `report`, not returned."""
    n = batch.num_rows
    keep = np.ones(n, dtype=bool)
    examples: list[Rejection] = []
    landed: dict[str, pa.Array] = {}
    for cell, col in matched.items():
        raw = batch.column(cell)
        if isinstance(raw, pa.ChunkedArray):
            raw = raw.combine_chunks()
        parsed = raw if typed else _parse_text(raw, col)
        if not typed and col.kind is not Kind.STRING:
            unparsed = pc.and_(pc.is_valid(raw), pc.is_null(parsed)).to_numpy(zero_copy_only=False)
            unparsed &= (
                pc.fill_null(pc.utf8_length(pc.utf8_trim_whitespace(raw)), 0).to_numpy(
                    zero_copy_only=False
                )
                > 0
            )
            examples += _examples(unparsed & keep, raw, first_line, col, f"not a {col.kind.value}")
            keep &= ~unparsed
        values, bad, reason = _to_landed(parsed, col)
        if bad.any():
            examples += _examples(bad & keep, raw, first_line, col, reason)
            keep &= ~bad
        landed[col.name] = values
    pickup = landed[ds.pickup_col]
    no_pickup = pc.is_null(pickup).to_numpy(zero_copy_only=False)
    examples += _examples(no_pickup & keep, None, first_line, ds.column(ds.pickup_col), "missing")
    keep &= ~no_pickup
    report.rows_read += n
    report.reject(int(n - keep.sum()), examples)
    table = pa.table({c.name: landed.get(c.name, pa.nulls(n, pa.string())) for c in ds.columns})
    table = table.append_column(SOURCE_MONTH.name, pa.array([month_start(month)] * n, pa.date32()))
    if not keep.all():
        table = table.filter(pa.array(keep))
    table = table.cast(ds.arrow_schema())
    report.out_of_month += count_out_of_month(table.column(ds.pickup_col), month)
    report.rows_written += table.num_rows
    return table


def count_out_of_month(pickups: pa.ChunkedArray | pa.Array, month: str) -> int:
    """Pickups before the month's first day or on/after the next month's."""
    tz = pa.timestamp("us", tz="UTC")
    lo = pa.scalar(pd.Timestamp(month_start(month), tz="UTC"), tz)
    hi = pa.scalar(pd.Timestamp(month_start(next_month(month)), tz="UTC"), tz)
    outside = pc.or_(pc.less(pickups, lo), pc.greater_equal(pickups, hi))
    return int(pc.sum(pc.fill_null(outside, False)).as_py() or 0)


def _write(src: Path, dst: Path, ds: TaxiDataset, month: str, typed: bool) -> CleanReport:
    report = CleanReport()
    header = read_header(src, month)
    matched = match_columns(header, ds, src, month, report)
    line = 2
    with atomic_write_path(dst) as tmp:
        with pq.ParquetWriter(tmp, ds.arrow_schema(), compression="zstd") as writer:
            try:
                for batch in _reader(src, header, matched, typed):
                    table = clean_batch(batch, matched, ds, month, line, typed, report)
                    line += batch.num_rows
                    writer.write_table(table)
            except (OSError, EOFError, zlib.error) as err:
                raise SourceFileError(src, month, f"unreadable at line ~{line}: {err}") from err
        if report.rows_read == 0:
            raise SourceFileError(src, month, "header only: the file has no data rows")
    return report


def csv_to_parquet(src: Path, dst: Path, ds: TaxiDataset, month: str) -> CleanReport:
    """Clean the month's raw CSV.gz into zstd parquet at `dst`, atomically."""
    try:
        report = _write(src, dst, ds, month, typed=True)
    except pa.ArrowInvalid as err:
        if "CSV conversion error" not in str(err) and "In CSV column" not in str(err):
            raise SourceFileError(src, month, str(err)) from err
        try:
            report = _write(src, dst, ds, month, typed=False)
        except pa.ArrowInvalid as text_err:
            raise SourceFileError(src, month, str(text_err)) from text_err
    return report
