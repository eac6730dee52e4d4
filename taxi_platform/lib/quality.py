"""Data-quality measures of a landed lake month (what the lake's asset checks judge)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from taxi_platform.catalog import TaxiDataset
from taxi_platform.lib.files import open_parquet
from taxi_platform.lib.lake import AllRowsRejectedError, CleanReport, count_out_of_month

DISTANCE_COL = "trip_distance"
# A lake path: source file, where to write, dataset, month -> what cleaning did.
Cleaner = Callable[[Path, Path, TaxiDataset, str], CleanReport]


@dataclass(frozen=True)
class LakeQuality:
    """Counts measured on a landed parquet month."""

    rows: int
    null_pickups: int
    out_of_month: int
    negative_distance: int | None

    @property
    def out_of_month_share(self) -> float:
        return self.out_of_month / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class QualityLimits:
    """What the blocking lake checks allow a month: shares of out-of-month and rejected rows."""

    max_out_of_month_share: float
    max_rejected_share: float


def rejected_share(report: CleanReport) -> float:
    return report.rejected / report.rows_read if report.rows_read else 0.0


def too_many_rejected(report: CleanReport, max_share: float) -> bool:
    """More than `max_share` of the rows read were rejected, or every one of them."""
    all_rejected = report.rows_read > 0 and report.rows_written == 0
    return all_rejected or rejected_share(report) > max_share


def has_distance(ds: TaxiDataset) -> bool:
    return any(c.name == DISTANCE_COL for c in ds.columns)


def measure_lake_month(path: Path, ds: TaxiDataset, month: str) -> LakeQuality:
    """Scan the pickup (and distance) columns of a lake month, one batch at a time."""
    distance = has_distance(ds)
    columns = [ds.pickup_col, *([DISTANCE_COL] if distance else [])]
    rows = nulls = outside = negative = 0
    for batch in open_parquet(path).iter_batches(columns=columns):
        pickups = batch.column(ds.pickup_col)
        rows += batch.num_rows
        nulls += pickups.null_count
        outside += count_out_of_month(pickups, month)
        if distance:
            negative += int(pc.sum(pc.less(batch.column(DISTANCE_COL), 0)).as_py() or 0)
    return LakeQuality(rows, nulls, outside, negative if distance else None)


def clean_and_measure(
    clean: Cleaner, src: Path, audit: Path, ds: TaxiDataset, month: str
) -> tuple[CleanReport, LakeQuality]:
    """Clean a month aside at `audit` and measure it. A month with every row rejected writes
    nothing and measures as empty, so that its checks fail it with its rejected sample."""
    try:
        report = clean(src, audit, ds, month)
    except AllRowsRejectedError as err:
        return err.report, LakeQuality(0, 0, 0, 0 if has_distance(ds) else None)
    return report, measure_lake_month(audit, ds, month)


def parquet_rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows
