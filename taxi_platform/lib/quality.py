"""Data-quality measures of a landed lake month (what the lake's asset checks judge)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from taxi_platform.catalog import TaxiDataset
from taxi_platform.lib.files import open_parquet
from taxi_platform.lib.lake import count_out_of_month

DISTANCE_COL = "trip_distance"


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


def parquet_rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows
