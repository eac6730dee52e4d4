"""Data-quality measures of a lake month and the asset checks built from them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pyarrow.compute as pc
import pyarrow.parquet as pq

from taxi_platform.datasets import TaxiDataset
from taxi_platform.pipeline.transform import CleanReport, count_out_of_month

PICKUP_PRESENT = "pickup_present"
PICKUP_IN_MONTH = "pickup_in_month"
DISTANCE_NON_NEGATIVE = "trip_distance_non_negative"
ROWS_RECONCILE = "rows_reconcile_with_raw"
ROWS_MATCH_LAKE = "rows_match_lake"
DISTANCE_COL = "trip_distance"


@dataclass(frozen=True)
class LakeQuality:
    """Counts measured on a landed parquet month."""

    rows: int
    null_pickups: int
    out_of_month: int
    negative_distance: int | None


def measure_lake_month(path: Path, ds: TaxiDataset, month: str) -> LakeQuality:
    """Scan the pickup (and distance) columns of a lake month, one batch at a time."""
    has_distance = any(c.name == DISTANCE_COL for c in ds.columns)
    columns = [ds.pickup_col, *([DISTANCE_COL] if has_distance else [])]
    rows = nulls = outside = negative = 0
    for batch in pq.ParquetFile(path).iter_batches(columns=columns):
        pickups = batch.column(ds.pickup_col)
        rows += batch.num_rows
        nulls += pickups.null_count
        outside += count_out_of_month(pickups, month)
        if has_distance:
            negative += int(pc.sum(pc.less(batch.column(DISTANCE_COL), 0)).as_py() or 0)
    return LakeQuality(rows, nulls, outside, negative if has_distance else None)


def lake_check_specs(ds: TaxiDataset, key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """Checks on the lake asset; the blocking ones keep a bad month out of the warehouse."""
    specs = [
        dg.AssetCheckSpec(
            PICKUP_PRESENT,
            asset=key,
            blocking=True,
            description="No row lacks its pickup timestamp.",
        ),
        dg.AssetCheckSpec(
            PICKUP_IN_MONTH,
            asset=key,
            blocking=True,
            description="Share of pickups outside the partition month is at most"
            " the configured maximum.",
        ),
        dg.AssetCheckSpec(
            ROWS_RECONCILE,
            asset=key,
            blocking=True,
            description="Lake rows = raw rows read - rejected rows.",
        ),
    ]
    if any(c.name == DISTANCE_COL for c in ds.columns):
        specs.append(
            dg.AssetCheckSpec(
                DISTANCE_NON_NEGATIVE, asset=key, description="No negative trip_distance (warning)."
            )
        )
    return specs


def lake_check_results(
    quality: dict[str, LakeQuality],
    reports: dict[str, CleanReport],
    key: dg.AssetKey,
    max_out_of_month_share: float,
) -> list[dg.AssetCheckResult]:
    """Evaluate the lake checks over the months of a run (all months must pass)."""

    def share(q: LakeQuality) -> float:
        return q.out_of_month / q.rows if q.rows else 0.0

    def result(name: str, passed: bool, severity: dg.AssetCheckSeverity, **numbers: object):
        return dg.AssetCheckResult(
            check_name=name, asset_key=key, passed=passed, severity=severity, metadata=numbers
        )

    error, warn = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
    months = sorted(quality)
    worst = max(months, key=lambda m: share(quality[m]))
    results = [
        result(
            PICKUP_PRESENT,
            all(quality[m].null_pickups == 0 for m in months),
            error,
            null_pickups=sum(quality[m].null_pickups for m in months),
        ),
        result(
            PICKUP_IN_MONTH,
            all(share(quality[m]) <= max_out_of_month_share for m in months),
            error,
            out_of_month_rows=sum(quality[m].out_of_month for m in months),
            out_of_month_share=round(share(quality[worst]), 6),
            worst_month=worst,
            max_share=max_out_of_month_share,
        ),
        result(
            ROWS_RECONCILE,
            all(quality[m].rows == reports[m].rows_read - reports[m].rejected for m in months),
            error,
            lake_rows=sum(quality[m].rows for m in months),
            raw_rows=sum(reports[m].rows_read for m in months),
            rejected_rows=sum(reports[m].rejected for m in months),
        ),
    ]
    if quality[months[0]].negative_distance is not None:
        negative = sum(quality[m].negative_distance or 0 for m in months)
        results.append(
            result(DISTANCE_NON_NEGATIVE, negative == 0, warn, negative_distance_rows=negative)
        )
    return results


def rows_match_lake(
    key: dg.AssetKey, sink_rows: dict[str, int], lake_rows: dict[str, int]
) -> dg.AssetCheckResult:
    """The sink holds exactly the lake's rows for every month of the run."""
    mismatched = [m for m in sink_rows if sink_rows[m] != lake_rows[m]]
    return dg.AssetCheckResult(
        check_name=ROWS_MATCH_LAKE,
        asset_key=key,
        passed=not mismatched,
        metadata={
            "sink_rows": sum(sink_rows.values()),
            "lake_rows": sum(lake_rows.values()),
            "mismatched_months": ", ".join(mismatched),
        },
    )
