"""An official TLC parquet month of any era -> the dataset's canonical typed parquet, streamed
one row batch at a time (memory does not grow with the month).

Columns are matched by name (any case, any era's name: `taxi_platform.schemas`), never by
position. Types are normalised: int32/int64/double ids and counts, timestamp[us]/[ns] and text
timestamps, string/large_string, and all-null (null-typed) columns. Old text codes (2009-2010
vendors and payment types, 0/1 store-and-forward flags) map to today's codes. The pandas index
column of 2010-02/03 is dropped. A column the schema does not know is kept in the lake file,
after the canonical ones, and listed in the report. Rows are then checked and rejected by the
same rules as the CSV path (`lake.clean_batch`).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from taxi_platform.catalog import TaxiDataset
from taxi_platform.lib.files import atomic_write_path, open_parquet
from taxi_platform.lib.lake import (
    CleanReport,
    SourceFileError,
    clean_batch,
    fingerprint,
    match_columns,
    parse_text,
    parse_type,
)
from taxi_platform.schemas import ARROW_TYPES, Column, Kind

BATCH_ROWS = 128_000
PANDAS_INDEX = "__index_level_0__"


def read_footer(src: Path, month: str) -> pq.ParquetFile:
    """Open the file's footer, or fail naming the file: an HTML page, a truncated file."""
    try:
        return open_parquet(src)
    except (pa.ArrowInvalid, OSError) as err:
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise SourceFileError(src, month, f"not a readable parquet file ({reason})") from err


def _coded(values: pa.Array, col: Column) -> pa.Array:
    """Replace old text codes (matched upper-case and trimmed) by today's values."""
    keys = pc.utf8_upper(pc.utf8_trim_whitespace(values))
    index = pc.index_in(keys, value_set=pa.array(list(col.codes)))
    mapped = pc.take(pa.array([str(v) for v in col.codes.values()]), index)
    return pc.coalesce(mapped, values)


def normalise(values: pa.Array, col: Column) -> pa.Array:
    """One source column in the type the shared cleaning rules expect."""
    target = parse_type(col)
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), target)
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    if col.kind is Kind.STRING:
        if not pa.types.is_string(values.type):
            values = values.cast(pa.string())
        return _coded(values, col) if col.codes else values
    if pa.types.is_string(values.type):
        return parse_text(_coded(values, col) if col.codes else values, col)
    if col.kind is Kind.TIMESTAMP:
        if values.type.tz is not None:
            values = values.cast(pa.timestamp(values.type.unit, tz="UTC"))
            values = pc.local_timestamp(values)
        return values.cast(target, safe=False)
    return values.cast(target)


def _schema_text(schema: pa.Schema) -> list[str]:
    return [f"{f.name}:{f.type}" for f in schema]


def _extra_type(field: pa.Field) -> pa.DataType:
    """How an unknown column is kept: text and timestamps normalised like the known ones."""
    if pa.types.is_large_string(field.type) or pa.types.is_null(field.type):
        return pa.string()
    if pa.types.is_timestamp(field.type):
        return ARROW_TYPES[Kind.TIMESTAMP]
    return field.type


def parquet_to_parquet(src: Path, dst: Path, ds: TaxiDataset, month: str) -> CleanReport:
    """Clean the month's official parquet into the canonical zstd parquet at `dst`, atomically."""
    report = CleanReport()
    file = read_footer(src, month)
    source_schema = file.schema_arrow
    report.era, report.fingerprint = ds.era(month), fingerprint(_schema_text(source_schema))
    names = [n for n in source_schema.names if n != PANDAS_INDEX]
    matched = match_columns(names, ds, src, month, report)
    extras = {n: _extra_type(source_schema.field(n)) for n in report.unknown_columns}
    schema = pa.schema([*ds.arrow_schema(), *(pa.field(n, t) for n, t in extras.items())])
    row = 1
    with atomic_write_path(dst) as tmp:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            try:
                for batch in file.iter_batches(BATCH_ROWS, columns=[*matched, *extras]):
                    typed = pa.RecordBatch.from_arrays(
                        [normalise(batch.column(c), col) for c, col in matched.items()],
                        names=list(matched),
                    )
                    extra = {n: batch.column(n).cast(t, safe=False) for n, t in extras.items()}
                    table = clean_batch(typed, matched, ds, month, row, True, report, extra)
                    row += batch.num_rows
                    writer.write_table(table)
            except (pa.ArrowInvalid, OSError) as err:
                reason = str(err).splitlines()[0][:120]
                raise SourceFileError(src, month, f"unreadable near row {row}: {reason}") from err
        if report.rows_read == 0:
            raise SourceFileError(src, month, "no rows: the file holds only a schema")
        if report.rows_written == 0:
            raise SourceFileError(src, month, f"all {report.rows_read} rows rejected")
    return report
