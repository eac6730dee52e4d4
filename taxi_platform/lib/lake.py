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
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from taxi_platform.catalog import ARROW_TYPES, SOURCE_MONTH, Column, Kind, TaxiDataset
from taxi_platform.lib.eras import (
    TIMESTAMP_FORMAT,
    match_columns,
    parse_text,
    parse_type,
    to_landed,
)
from taxi_platform.lib.errors import disk_full
from taxi_platform.lib.files import atomic_write_path
from taxi_platform.lib.months import month_start, next_month

BLOCK_SIZE = 1 << 20  # 1 MiB blocks keep Arrow's reader memory flat in month size
MAX_EXAMPLES = 20
_RAGGED = "(row)"


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


def match_header(
    header: list[str], ds: TaxiDataset, path: Path, month: str, report: CleanReport
) -> dict[str, Column]:
    """Map each header cell to its schema column (`eras.match_columns`) and list the unknown and
    missing ones in `report`; a missing required column rejects the file."""
    match = match_columns(header, ds)
    report.unknown_columns.extend(match.unknown)
    if required := [c.source for c in match.missing if c.required]:
        raise SourceFileError(
            path,
            month,
            f"line 1 (header): missing required column(s) {', '.join(required)}"
            f" (header cells: {', '.join(header)})",
        )
    report.missing_optional_columns = [c.source for c in match.missing]
    return match.columns


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
            timestamp_parsers=[TIMESTAMP_FORMAT, pacsv.ISO8601],
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


@dataclass(frozen=True)
class MonthFile:
    """What every batch of one source file shares: its dataset and month, and the schema
    column each of its read columns lands as."""

    ds: TaxiDataset
    month: str
    columns: dict[str, Column]


@dataclass(frozen=True)
class _Parsed:
    """One column of a batch in its read type; rejection examples quote `shown`; `unparsed`
    marks the cells of a text column that did not parse (None: nothing could fail)."""

    column: Column
    values: pa.Array
    shown: pa.Array
    unparsed: np.ndarray | None = None


def clean_batch(
    batch: pa.RecordBatch,
    file: MonthFile,
    first_line: int,
    report: CleanReport,
    extra: Mapping[str, pa.Array] | None = None,
) -> pa.Table:
    """Check and order one batch already in its read types (`eras.parse_type`); rejected rows
    are counted in `report`, not returned. `extra` columns (unknown to the schema) follow the
    landed ones, row for row."""
    parsed = [
        _Parsed(col, batch.column(cell), batch.column(cell)) for cell, col in file.columns.items()
    ]
    return _land(parsed, batch.num_rows, file, first_line, report, extra or {})


def clean_text_batch(
    batch: pa.RecordBatch, file: MonthFile, first_line: int, report: CleanReport
) -> pa.Table:
    """`clean_batch` for a batch read as bytes: each cell is decoded and parsed, and a cell that
    does not parse rejects its row."""
    parsed = [
        _parse_text_column(batch.column(cell), col, first_line, report)
        for cell, col in file.columns.items()
    ]
    return _land(parsed, batch.num_rows, file, first_line, report, {})


def _parse_text_column(raw: pa.Array, col: Column, first_line: int, report: CleanReport) -> _Parsed:
    """Decode one column of bytes and parse it to its read type."""
    text = _decode_text(raw, col, first_line, report)
    values = parse_text(text, col)
    if col.kind is Kind.STRING:
        return _Parsed(col, values, text)
    unparsed = pc.and_(pc.is_valid(text), pc.is_null(values)).to_numpy(zero_copy_only=False)
    length = pc.fill_null(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0)
    unparsed &= length.to_numpy(zero_copy_only=False) > 0
    return _Parsed(col, values, text, unparsed)


def _land(
    parsed: list[_Parsed],
    rows: int,
    file: MonthFile,
    first_line: int,
    report: CleanReport,
    extra: Mapping[str, pa.Array],
) -> pa.Table:
    """The month's table of the batch's rows no rule rejects, counted in `report`."""
    landed, keep, examples = _apply_rules(parsed, rows, file.ds, first_line)
    report.rows_read += rows
    report.reject(int(rows - keep.sum()), examples)
    ds = file.ds
    table = pa.table({c.name: landed.get(c.name, pa.nulls(rows, pa.string())) for c in ds.columns})
    source_month = pa.array([month_start(file.month)] * rows, pa.date32())
    table = table.append_column(SOURCE_MONTH.name, source_month).cast(ds.arrow_schema())
    for name, values in extra.items():
        table = table.append_column(name, values)
    if not keep.all():
        table = table.filter(pa.array(keep))
    report.out_of_month += count_out_of_month(table.column(ds.pickup_col), file.month)
    report.rows_written += table.num_rows
    return table


def _apply_rules(
    parsed: list[_Parsed], rows: int, ds: TaxiDataset, first_line: int
) -> tuple[dict[str, pa.Array], np.ndarray, list[Rejection]]:
    """Each column's landed values (`eras.to_landed`), the rows to keep and examples of those
    rejected: a cell that did not parse or broke a rule, or a missing pickup."""
    keep = np.ones(rows, dtype=bool)
    examples: list[Rejection] = []
    landed: dict[str, pa.Array] = {}
    for p in parsed:
        if p.unparsed is not None:
            reason = f"not a {p.column.kind.value}"
            examples += _examples(p.unparsed & keep, p.shown, first_line, p.column, reason)
            keep &= ~p.unparsed
        values, bad, reason = to_landed(p.values, p.column)
        if bad is not None and bad.any():
            examples += _examples(bad & keep, p.shown, first_line, p.column, reason)
            keep &= ~bad
        landed[p.column.name] = values
    no_pickup = pc.is_null(landed[ds.pickup_col]).to_numpy(zero_copy_only=False)
    examples += _examples(no_pickup & keep, None, first_line, ds.column(ds.pickup_col), "missing")
    keep &= ~no_pickup
    return landed, keep, examples


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


def rejection_summary(report: CleanReport, place: str = "line") -> str:
    """The first rejected cell (at its `place`: a CSV line or a parquet row) and the columns
    rejecting rows in the sample, for a one-line error; empty when nothing was rejected."""
    if not report.examples:
        return ""
    examples = sorted(report.examples, key=lambda e: e.line)
    columns = ", ".join(dict.fromkeys(e.column for e in examples))
    e = examples[0]
    return (
        f"first: {place} {e.line}, column {e.column}, value {e.value[:80]!r}: {e.reason};"
        f" columns rejecting rows: {columns}"
    )


class AllRowsRejectedError(SourceFileError):
    """A month whose every row is rejected; `report` holds its counts and rejected sample."""

    def __init__(self, path: Path, month: str, report: CleanReport, place: str = "line") -> None:
        rows = "rows" if place == "row" else "data rows"
        reason = [f"all {report.rows_read} {rows} rejected", rejection_summary(report, place)]
        super().__init__(path, month, "; ".join(filter(None, reason)))
        self.report = report


def _write(src: Path, dst: Path, ds: TaxiDataset, month: str, typed: bool) -> CleanReport:
    report = CleanReport()
    header = read_header(src, month)
    report.era, report.fingerprint = ds.era(month), fingerprint(header)
    matched = match_header(header, ds, src, month, report)
    ragged = None if typed else _RaggedRows()
    file, clean = MonthFile(ds, month, matched), clean_batch if typed else clean_text_batch
    line = 2
    with atomic_write_path(dst) as tmp:
        with pq.ParquetWriter(tmp, ds.arrow_schema(), compression="zstd") as writer:
            try:
                for batch in _reader(src, header, matched, typed, ragged):
                    table = clean(batch, file, line, report)
                    line += batch.num_rows
                    writer.write_table(table)
            except (OSError, EOFError, zlib.error) as err:
                if isinstance(err, OSError) and disk_full(err):
                    raise  # a full lake disk, not a bad file: atomic_write_path names it
                raise SourceFileError(src, month, f"unreadable at line ~{line}: {err}") from err
        if ragged is not None:
            _fix_lines(report, ragged)
        if report.rows_read == 0:
            raise SourceFileError(src, month, "header only: the file has no data rows")
        if report.rows_written == 0:
            raise AllRowsRejectedError(src, month, report)
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
