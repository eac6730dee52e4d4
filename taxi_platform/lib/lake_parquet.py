"""An official TLC parquet month of any era -> the dataset's canonical typed parquet, streamed
one row batch at a time (memory does not grow with the month).

Columns are matched by name and their values normalised by `taxi_platform.lib.eras` (any case,
any era's name and Arrow type; the 2009-2010 text codes). The pandas index column of 2010-02/03
is dropped. A column the schema does not know is kept in the lake file, after the canonical
ones, and listed in the report. Rows are then checked and rejected by the same rules as the CSV
path (`lake.clean_batch`).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from taxi_platform.catalog import TaxiDataset
from taxi_platform.lib.eras import normalise, unknown_type
from taxi_platform.lib.errors import disk_full
from taxi_platform.lib.files import atomic_write_path, open_parquet
from taxi_platform.lib.lake import (
    AllRowsRejectedError,
    CleanReport,
    MonthFile,
    SourceFileError,
    clean_batch,
    fingerprint,
    match_header,
)

BATCH_ROWS = 128_000
PANDAS_INDEX = "__index_level_0__"


def read_footer(src: Path, month: str) -> pq.ParquetFile:
    """Open the file's footer, or fail naming the file: an HTML page, a truncated file."""
    try:
        return open_parquet(src)
    except (pa.ArrowInvalid, OSError) as err:
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise SourceFileError(src, month, f"not a readable parquet file ({reason})") from err


def _schema_text(schema: pa.Schema) -> list[str]:
    return [f"{f.name}:{f.type}" for f in schema]


def parquet_to_parquet(src: Path, dst: Path, ds: TaxiDataset, month: str) -> CleanReport:
    """Clean the month's official parquet into the canonical zstd parquet at `dst`, atomically."""
    report = CleanReport()
    file = read_footer(src, month)
    source_schema = file.schema_arrow
    report.era, report.fingerprint = ds.era(month), fingerprint(_schema_text(source_schema))
    names = [n for n in source_schema.names if n != PANDAS_INDEX]
    matched = match_header(names, ds, src, month, report)
    extras = {n: unknown_type(source_schema.field(n)) for n in report.unknown_columns}
    schema = pa.schema([*ds.arrow_schema(), *(pa.field(n, t) for n, t in extras.items())])
    month_file = MonthFile(ds, month, matched)
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
                    table = clean_batch(typed, month_file, row, report, extra)
                    row += batch.num_rows
                    writer.write_table(table)
            except (pa.ArrowInvalid, OSError) as err:
                if isinstance(err, OSError) and disk_full(err):
                    raise  # a full lake disk, not a bad file: atomic_write_path names it
                reason = str(err).splitlines()[0][:120]
                raise SourceFileError(src, month, f"unreadable near row {row}: {reason}") from err
        if report.rows_read == 0:
            raise SourceFileError(src, month, "no rows: the file holds only a schema")
        if report.rows_written == 0:
            raise AllRowsRejectedError(src, month, report, place="row")
    return report
