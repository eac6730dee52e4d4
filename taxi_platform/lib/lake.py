"""Raw TLC CSV.gz -> typed, cleaned parquet, streamed in bounded memory.

Cleaning policy (the same for every dataset, driven by `catalog.py`; each rule has a test in
taxi_platform_tests/reliability/test_bad_input.py):
- Headers are matched to the schema ignoring case, spaces, dashes and underscores, against the
  TLC header or the landed name (`PULocationID`, `pulocationid` and `pu_location_id` are the
  same column); a UTF-8 BOM, CR and quotes around cells are ignored. A missing required column
  rejects the file; a missing optional column lands as nulls; unknown extra columns are dropped
  and listed in the report.
- CRLF (Windows) line endings are read like LF.
- Text is UTF-8. A cell that is not valid UTF-8 is read as Latin-1 (which maps every byte to a
  character: the legacy encoding of TLC-era files), counted in `recoded_cells` with examples.
- Integer columns are read as numbers and must be whole and within int64 (TLC writes them as
  "1.0" in months where NaNs occur); they land as nullable int64. Float columns must be finite
  (no inf). Empty cells and Arrow's null markers (NA, N/A, NULL, NaN, ...) are null, and nulls
  stay null: passenger_count and friends are never filled in.
- `store_and_fwd_flag` keeps "Y"/"N" (any case, trimmed); anything else becomes null.
- Timestamps ("YYYY-MM-DD hh:mm:ss", or ISO 8601) are the TLC's New York wall-clock values,
  stored as they are: timestamps without a time zone.
- A row is rejected (counted in `rejected`, with up to MAX_EXAMPLES examples naming line,
  column and value) when a cell cannot be parsed as its column's type, an integer is not whole,
  a float is not finite, the pickup time is missing, or the row has too many or too few fields.
- Rows whose pickup falls outside the partition month stay in the month's file (counted).
- Negative amounts (refunds) are kept.
- A file is rejected as a whole (SourceFileError naming the file, the month, and the line and
  column where it applies) when it is not a readable gzip, is empty, has only a header, lacks a
  required column, or has every data row rejected.

The output is written to a temp file and renamed into place only when complete, so a rejected
file or a killed process leaves the previously landed parquet (or nothing) in the lake.

Clean files are parsed by Arrow's multi-threaded typed reader; if any cell fails to parse (or a
row is ragged, or a byte is not UTF-8), the file is read again as bytes and checked cell by
cell, so bad rows are rejected, not fatal. The fallback only runs for dirty files.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from taxi_platform.catalog import ARROW_TYPES, SOURCE_MONTH, Column, Kind, TaxiDataset
from taxi_platform.lib.files import atomic_write_path
from taxi_platform.lib.months import month_start, next_month

BLOCK_SIZE = 1 << 20  # 1 MiB blocks keep Arrow's reader memory flat in month size
MAX_EXAMPLES = 20
_PARSE_TYPES: dict[Kind, pa.DataType] = {
    Kind.INT: pa.float64(),
    Kind.FLOAT: pa.float64(),
    Kind.STRING: pa.string(),
    Kind.TIMESTAMP: pa.timestamp("us"),
}
_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
_TEXT_TIMESTAMP_FORMATS = (_TIMESTAMP_FORMAT, "%Y-%m-%dT%H:%M:%S")
_INT64_LIMIT = 2.0**63
_RAGGED = "(row)"
_NOT_KEY = re.compile(r"[^a-z0-9]")


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
    era: str = ""
    fingerprint: str = ""
    """A short hash of the source file's column names and types."""
    unknown_columns: list[str] = field(default_factory=list)
    missing_optional_columns: list[str] = field(default_factory=list)
    examples: list[Rejection] = field(default_factory=list)
    recoded_cells: int = 0
    recoded_examples: list[Rejection] = field(default_factory=list)

    def reject(self, rows: int, examples: list[Rejection]) -> None:
        self.rejected += rows
        self.examples.extend(examples[: MAX_EXAMPLES - len(self.examples)])

    def recode(self, cells: int, examples: list[Rejection]) -> None:
        self.recoded_cells += cells
        self.recoded_examples.extend(examples[: MAX_EXAMPLES - len(self.recoded_examples)])


def read_header(path: Path, month: str) -> list[str]:
    """The file's header cells, with BOM, CR and quotes removed."""
    try:
        with gzip.open(path, "rb") as fh:
            line = fh.readline()
    except (OSError, EOFError, zlib.error) as err:
        raise SourceFileError(path, month, f"not a readable gzip file ({err})") from err
    text = _decode_cell(line).removeprefix("\ufeff").strip()
    if not text:
        raise SourceFileError(path, month, "empty file: no header line")
    return [cell.strip().strip('"') for cell in text.split(",")]


def fingerprint(fields: list[str]) -> str:
    """A short, stable hash of a file's column names (and types, where the file has them)."""
    return hashlib.sha256("|".join(fields).encode()).hexdigest()[:16]


def _decode_cell(value: bytes) -> str:
    """UTF-8, else Latin-1 (every byte is a Latin-1 character)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def header_key(cell: str) -> str:
    """How header cells are compared: lower case, without spaces, dashes and underscores."""
    return _NOT_KEY.sub("", cell.lower())


def match_columns(
    header: list[str], ds: TaxiDataset, path: Path, month: str, report: CleanReport
) -> dict[str, Column]:
    """Map each header cell to its schema column; unknown cells map to nothing."""
    by_key: dict[str, Column] = {}
    for col in ds.columns:
        for key in {header_key(name) for name in (col.source, col.name, *col.aliases)}:
            if by_key.setdefault(key, col) is not col:
                raise AssertionError(f"{ds.name}: columns {col.name} and {by_key[key].name} clash")
    matched: dict[str, Column] = {}
    for cell in header:
        col = by_key.get(header_key(cell))
        if col is None or col in matched.values():
            report.unknown_columns.append(cell)
        else:
            matched[cell] = col
    present = set(matched.values())
    missing = [c for c in ds.columns if c not in present]
    if required := [c.source for c in missing if c.required]:
        raise SourceFileError(
            path,
            month,
            f"line 1 (header): missing required column(s) {', '.join(required)}"
            f" (header cells: {', '.join(header)})",
        )
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


class _RaggedRows:
    """Arrow's invalid-row handler: skip rows with the wrong number of fields, remember them."""

    def __init__(self) -> None:
        self.rows: list[Rejection] = []

    def __call__(self, row: pacsv.InvalidRow) -> str:
        self.rows.append(
            Rejection(
                line=row.number or 0,
                column=_RAGGED,
                value=row.text[:200],
                reason=f"{row.actual_columns} fields, header has {row.expected_columns}",
            )
        )
        return "skip"

    def line_of(self, line: int) -> int:
        """The physical line of the data row that is `line` when no row is skipped."""
        for skipped in sorted(r.line for r in self.rows):
            if skipped <= line:
                line += 1
            else:
                break
        return line


def _reader(
    path: Path,
    header: list[str],
    matched: dict[str, Column],
    typed: bool,
    ragged: _RaggedRows | None = None,
) -> pacsv.CSVStreamingReader:
    column_types = {
        cell: (parse_type(col) if typed else pa.binary()) for cell, col in matched.items()
    }
    return pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(
            column_names=_header_names(header),
            skip_rows=1,
            block_size=BLOCK_SIZE,
            # The text path numbers the rows it skips; Arrow only knows them single-threaded.
            use_threads=typed,
        ),
        parse_options=pacsv.ParseOptions(invalid_row_handler=ragged),
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


def _decode_text(raw: pa.Array, col: Column, first_line: int, report: CleanReport) -> pa.Array:
    """Bytes -> UTF-8 text; cells that are not UTF-8 are read as Latin-1 and counted."""
    try:
        return raw.cast(pa.string())
    except pa.ArrowInvalid:
        pass
    values: list[str | None] = []
    recoded: list[int] = []
    for i, cell in enumerate(raw.to_pylist()):
        if cell is None:
            values.append(None)
            continue
        try:
            values.append(cell.decode("utf-8"))
        except UnicodeDecodeError:
            values.append(cell.decode("latin-1"))
            recoded.append(i)
    text = pa.array(values, pa.string())
    mask = np.zeros(len(values), dtype=bool)
    mask[recoded] = True
    report.recode(
        len(recoded), _examples(mask, text, first_line, col, "not UTF-8: read as Latin-1")
    )
    return text


def parse_type(col: Column) -> pa.DataType:
    """The type a column is read as before the cleaning rules type it."""
    return _PARSE_TYPES[col.kind]


def parse_text(text: pa.Array, col: Column) -> pa.Array:
    """Parse a text column to its read type; unparseable cells become null."""
    if col.kind is Kind.STRING:
        return text
    if col.kind is Kind.TIMESTAMP:
        trimmed = pc.utf8_trim_whitespace(text)
        parsed = None
        for fmt in _TEXT_TIMESTAMP_FORMATS:
            attempt = pc.strptime(trimmed, format=fmt, unit="us", error_is_null=True)
            parsed = attempt if parsed is None else pc.coalesce(parsed, attempt)
        return parsed
    import pandas as pd  # only the text fallback needs it; the clean path stays pandas-free

    numbers = pd.to_numeric(text.to_pandas(), errors="coerce")
    return pa.array(numbers, type=pa.float64(), from_pandas=True)


def _to_landed(values: pa.Array, col: Column) -> tuple[pa.Array, np.ndarray | None, str]:
    """Convert a parsed column to its landed type; returns values, bad-row mask, reason."""
    if col.kind is Kind.INT:
        whole = pc.and_(pc.equal(pc.floor(values), values), pc.less(pc.abs(values), _INT64_LIMIT))
        whole = pc.fill_null(whole, True)
        bad = ~whole.to_numpy(zero_copy_only=False)
        safe = pc.if_else(whole, values, None)
        return pc.cast(safe, pa.int64()), bad, "not a whole number in int64 range"
    if col.kind is Kind.FLOAT:
        finite = pc.fill_null(pc.is_finite(values), True)
        if pc.all(finite).as_py():
            return values, None, ""
        bad = ~finite.to_numpy(zero_copy_only=False)
        return pc.if_else(finite, values, None), bad, "not a finite number"
    if col.kind is Kind.TIMESTAMP and col.placeholder:
        placeholder = pa.scalar(datetime.fromisoformat(col.placeholder), values.type)
        return pc.if_else(pc.equal(values, placeholder), None, values), None, ""
    if col.name == "store_and_fwd_flag":
        flag = pc.utf8_upper(pc.utf8_trim_whitespace(values))
        return pc.if_else(pc.is_in(flag, pa.array(["Y", "N"])), flag, None), None, ""
    if col.trim:
        return pc.utf8_trim_whitespace(values), None, ""
    return values, None, ""


def clean_batch(
    batch: pa.RecordBatch,
    matched: dict[str, Column],
    ds: TaxiDataset,
    month: str,
    first_line: int,
    typed: bool,
    report: CleanReport,
    extra: dict[str, pa.Array] | None = None,
) -> pa.Table:
    """Type, check and order one batch; rejected rows are counted in `report`, not returned.
    `extra` columns (unknown to the schema) follow the landed ones, row for row."""
    n = batch.num_rows
    keep = np.ones(n, dtype=bool)
    examples: list[Rejection] = []
    landed: dict[str, pa.Array] = {}
    for cell, col in matched.items():
        raw = batch.column(cell)
        if isinstance(raw, pa.ChunkedArray):
            raw = raw.combine_chunks()
        if not typed:
            raw = _decode_text(raw, col, first_line, report)
        parsed = raw if typed else parse_text(raw, col)
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
        if bad is not None and bad.any():
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
    table = table.cast(ds.arrow_schema())
    for name, values in (extra or {}).items():
        table = table.append_column(name, values)
    if not keep.all():
        table = table.filter(pa.array(keep))
    report.out_of_month += count_out_of_month(table.column(ds.pickup_col), month)
    report.rows_written += table.num_rows
    return table


def count_out_of_month(pickups: pa.ChunkedArray | pa.Array, month: str) -> int:
    """Pickups before the month's first day or on/after the next month's (wall-clock)."""
    wall_clock = ARROW_TYPES[Kind.TIMESTAMP]
    lo = pa.scalar(datetime.combine(month_start(month), time()), wall_clock)
    hi = pa.scalar(datetime.combine(month_start(next_month(month)), time()), wall_clock)
    outside = pc.or_(pc.less(pickups, lo), pc.greater_equal(pickups, hi))
    return int(pc.sum(pc.fill_null(outside, False)).as_py() or 0)


def _fix_lines(report: CleanReport, ragged: _RaggedRows) -> None:
    """Count ragged rows as read and rejected; shift example lines past the skipped rows."""
    if not ragged.rows:
        return
    for examples in (report.examples, report.recoded_examples):
        examples[:] = [replace(e, line=ragged.line_of(e.line)) for e in examples]
    report.rows_read += len(ragged.rows)
    report.rejected += len(ragged.rows)
    report.examples = sorted([*ragged.rows, *report.examples], key=lambda e: e.line)[:MAX_EXAMPLES]


def _first_example(report: CleanReport) -> str:
    if not report.examples:
        return ""
    e = min(report.examples, key=lambda e: e.line)
    return f"; first: line {e.line}, column {e.column}, value {e.value!r}: {e.reason}"


def _write(src: Path, dst: Path, ds: TaxiDataset, month: str, typed: bool) -> CleanReport:
    report = CleanReport()
    header = read_header(src, month)
    report.era, report.fingerprint = ds.era(month), fingerprint(header)
    matched = match_columns(header, ds, src, month, report)
    ragged = None if typed else _RaggedRows()
    line = 2
    with atomic_write_path(dst) as tmp:
        with pq.ParquetWriter(tmp, ds.arrow_schema(), compression="zstd") as writer:
            try:
                for batch in _reader(src, header, matched, typed, ragged):
                    table = clean_batch(batch, matched, ds, month, line, typed, report)
                    line += batch.num_rows
                    writer.write_table(table)
            except (OSError, EOFError, zlib.error) as err:
                raise SourceFileError(src, month, f"unreadable at line ~{line}: {err}") from err
        if ragged is not None:
            _fix_lines(report, ragged)
        if report.rows_read == 0:
            raise SourceFileError(src, month, "header only: the file has no data rows")
        if report.rows_written == 0:
            raise SourceFileError(
                src, month, f"all {report.rows_read} data rows rejected{_first_example(report)}"
            )
    return report


def _dirty(err: pa.ArrowInvalid) -> bool:
    """Whether the typed reader failed on a cell or a row that the text path can reject."""
    text = str(err)
    return any(
        marker in text for marker in ("CSV conversion error", "In CSV column", "CSV parse error")
    )


def csv_to_parquet(src: Path, dst: Path, ds: TaxiDataset, month: str) -> CleanReport:
    """Clean the month's raw CSV.gz into zstd parquet at `dst`, atomically."""
    try:
        report = _write(src, dst, ds, month, typed=True)
    except pa.ArrowInvalid as err:
        if not _dirty(err):
            raise SourceFileError(src, month, str(err)) from err
        try:
            report = _write(src, dst, ds, month, typed=False)
        except pa.ArrowInvalid as text_err:
            raise SourceFileError(src, month, str(text_err)) from text_err
    return report
