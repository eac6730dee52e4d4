"""The asset checks of every layer, judged from measures the library takes; each is
evaluated and recorded per month."""

from __future__ import annotations

import dagster as dg

from taxi_platform.catalog import TaxiDataset
from taxi_platform.defs.metadata import without_empty_entries
from taxi_platform.lib.lake import CleanReport
from taxi_platform.lib.quality import LakeQuality, has_distance

PICKUP_PRESENT = "pickup_present"
PICKUP_IN_MONTH = "pickup_in_month"
DISTANCE_NON_NEGATIVE = "trip_distance_non_negative"
ROWS_RECONCILE = "rows_reconcile_with_raw"
ROWS_MATCH_LAKE = "rows_match_lake"
KNOWN_COLUMNS = "columns_known"
OBJECT_MATCHES_LAKE = "object_matches_lake"


def _spec(
    name: str, key: dg.AssetKey, partitions: dg.PartitionsDefinition, description: str, **kw: bool
) -> dg.AssetCheckSpec:
    """A check evaluated and recorded per month (partitioned like its asset)."""
    return dg.AssetCheckSpec(
        name, asset=key, partitions_def=partitions, description=description, **kw
    )


def lake_check_specs(
    ds: TaxiDataset, key: dg.AssetKey, partitions: dg.PartitionsDefinition
) -> list[dg.AssetCheckSpec]:
    """Checks on the lake asset; the blocking ones keep a bad month out of the warehouse."""
    specs = [
        _spec(PICKUP_PRESENT, key, partitions, "No row lacks its pickup time.", blocking=True),
        _spec(
            PICKUP_IN_MONTH,
            key,
            partitions,
            "Share of pickups outside the month is at most the configured maximum.",
            blocking=True,
        ),
        _spec(
            ROWS_RECONCILE,
            key,
            partitions,
            "Lake rows = raw rows read - rejected rows.",
            blocking=True,
        ),
        _spec(
            KNOWN_COLUMNS,
            key,
            partitions,
            "Every source column is in the canonical schema (warning: an unknown one is kept"
            " in the lake file and named here).",
        ),
    ]
    if has_distance(ds):
        specs.append(
            _spec(DISTANCE_NON_NEGATIVE, key, partitions, "No negative trip_distance (warning).")
        )
    return specs


def sink_check_specs(
    key: dg.AssetKey, partitions: dg.PartitionsDefinition
) -> list[dg.AssetCheckSpec]:
    return [
        _spec(
            ROWS_MATCH_LAKE,
            key,
            partitions,
            "The month holds exactly the lake file's rows.",
            blocking=True,
        )
    ]


def gcs_check_specs(
    key: dg.AssetKey, partitions: dg.PartitionsDefinition
) -> list[dg.AssetCheckSpec]:
    return [
        _spec(
            OBJECT_MATCHES_LAKE,
            key,
            partitions,
            "The bucket object's size and MD5 equal the lake file's.",
            blocking=True,
        )
    ]


def failed_blocking_checks(
    quality: LakeQuality, report: CleanReport, max_out_of_month_share: float
) -> list[str]:
    """The blocking lake checks one month fails (none: it may be published)."""
    failed = [PICKUP_PRESENT] if quality.null_pickups else []
    if quality.out_of_month_share > max_out_of_month_share:
        failed.append(PICKUP_IN_MONTH)
    if quality.rows != report.rows_read - report.rejected:
        failed.append(ROWS_RECONCILE)
    return failed


def lake_check_results(
    quality: LakeQuality, report: CleanReport, key: dg.AssetKey, max_out_of_month_share: float
) -> list[dg.AssetCheckResult]:
    """The lake checks of one month."""

    def result(name: str, passed: bool, severity: dg.AssetCheckSeverity, **numbers: object):
        return dg.AssetCheckResult(
            check_name=name,
            asset_key=key,
            passed=passed,
            severity=severity,
            metadata=without_empty_entries(numbers),
        )

    error, warn = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
    failed = failed_blocking_checks(quality, report, max_out_of_month_share)
    results = [
        result(
            PICKUP_PRESENT, PICKUP_PRESENT not in failed, error, null_pickups=quality.null_pickups
        ),
        result(
            PICKUP_IN_MONTH,
            PICKUP_IN_MONTH not in failed,
            error,
            out_of_month_rows=quality.out_of_month,
            out_of_month_share=round(quality.out_of_month_share, 6),
            max_share=max_out_of_month_share,
        ),
        result(
            ROWS_RECONCILE,
            ROWS_RECONCILE not in failed,
            error,
            lake_rows=quality.rows,
            raw_rows=report.rows_read,
            rejected_rows=report.rejected,
        ),
        result(
            KNOWN_COLUMNS,
            not report.unknown_columns,
            warn,
            unknown_columns=", ".join(report.unknown_columns),
        ),
    ]
    if quality.negative_distance is not None:
        results.append(
            result(
                DISTANCE_NON_NEGATIVE,
                quality.negative_distance == 0,
                warn,
                negative_distance_rows=quality.negative_distance,
            )
        )
    return results


def rows_match_lake(key: dg.AssetKey, sink_rows: int, lake_rows: int) -> dg.AssetCheckResult:
    """The sink holds exactly the lake's rows for the month."""
    return dg.AssetCheckResult(
        check_name=ROWS_MATCH_LAKE,
        asset_key=key,
        passed=sink_rows == lake_rows,
        metadata={"sink_rows": sink_rows, "lake_rows": lake_rows},
    )


def object_matches_lake(
    key: dg.AssetKey, object_size: int, object_md5: str, lake_size: int, lake_md5: str
) -> dg.AssetCheckResult:
    """The bucket object is the lake file: same size and MD5."""
    return dg.AssetCheckResult(
        check_name=OBJECT_MATCHES_LAKE,
        asset_key=key,
        passed=object_size == lake_size and object_md5 == lake_md5,
        metadata={
            "object_bytes": object_size,
            "lake_bytes": lake_size,
            "object_md5": object_md5,
            "lake_md5": lake_md5,
        },
    )
