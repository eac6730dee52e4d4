"""The asset checks of every layer, judged from measures the library takes; each is
evaluated and recorded per month."""

from __future__ import annotations

import dagster as dg

from taxi_platform.catalog import TaxiDataset
from taxi_platform.defs.metadata import rejection_sample, without_empty_entries
from taxi_platform.lib.lake import CleanReport, rejection_summary
from taxi_platform.lib.quality import (
    LakeQuality,
    QualityLimits,
    has_distance,
    rejected_share,
    too_many_rejected,
)
from taxi_platform.lib.source import read_record
from taxi_platform.lib.versions import CleanedMonth

PICKUP_PRESENT = "pickup_present"
PICKUP_IN_MONTH = "pickup_in_month"
DISTANCE_NON_NEGATIVE = "trip_distance_non_negative"
ROWS_RECONCILE = "rows_reconcile_with_raw"
REJECTED_SHARE = "rejected_share"
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
            REJECTED_SHARE,
            key,
            partitions,
            "Share of the rows read that were rejected is at most the configured maximum, and"
            " some row lands (a failed month shows its rejected sample here).",
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
    quality: LakeQuality, report: CleanReport, limits: QualityLimits
) -> list[str]:
    """The blocking lake checks one month fails (none: it may be published)."""
    failed = [PICKUP_PRESENT] if quality.null_pickups else []
    if quality.out_of_month_share > limits.max_out_of_month_share:
        failed.append(PICKUP_IN_MONTH)
    if quality.rows != report.rows_read - report.rejected:
        failed.append(ROWS_RECONCILE)
    if too_many_rejected(report, limits.max_rejected_share):
        failed.append(REJECTED_SHARE)
    return failed


def blocking_failures(cleaned: CleanedMonth, limits: QualityLimits) -> list[str]:
    """The blocking checks a month fails, for its one-line error; a failed `rejected_share`
    says how many rows were rejected, the first rejected cell, the columns and the source."""
    failed = failed_blocking_checks(cleaned.quality, cleaned.report, limits)
    if REJECTED_SHARE not in failed:
        return failed
    detail = _rejected_detail(cleaned, limits.max_rejected_share)
    return [f"{REJECTED_SHARE} ({detail})" if name == REJECTED_SHARE else name for name in failed]


def _rejected_detail(cleaned: CleanedMonth, max_share: float) -> str:
    report, month = cleaned.report, cleaned.month
    if report.rows_written == 0:
        lost = f"all {report.rows_read} rows rejected"
    else:
        share = rejected_share(report)
        lost = f"{report.rejected} of {report.rows_read} rows rejected"
        lost += f", a share of {share:.4f} above the maximum {max_share}"
    place = "line" if month.source.file_format == "csv.gz" else "row"
    record = read_record(month.raw)
    source = record.url if record and record.url else str(month.raw)
    return "; ".join(filter(None, [lost, rejection_summary(report, place), f"source {source}"]))


def _result(
    key: dg.AssetKey, name: str, passed: bool, blocking: bool, **numbers: object
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=key,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        metadata=without_empty_entries(numbers),
    )


def lake_check_results(
    quality: LakeQuality, report: CleanReport, key: dg.AssetKey, limits: QualityLimits
) -> list[dg.AssetCheckResult]:
    """The lake checks of one month: the blocking ones, then the warnings."""
    failed = failed_blocking_checks(quality, report, limits)
    results = [
        _result(
            key,
            PICKUP_PRESENT,
            PICKUP_PRESENT not in failed,
            True,
            null_pickups=quality.null_pickups,
        ),
        _result(
            key,
            PICKUP_IN_MONTH,
            PICKUP_IN_MONTH not in failed,
            True,
            out_of_month_rows=quality.out_of_month,
            out_of_month_share=round(quality.out_of_month_share, 6),
            max_share=limits.max_out_of_month_share,
        ),
        _result(
            key,
            ROWS_RECONCILE,
            ROWS_RECONCILE not in failed,
            True,
            lake_rows=quality.rows,
            raw_rows=report.rows_read,
            rejected_rows=report.rejected,
        ),
        _result(
            key,
            REJECTED_SHARE,
            REJECTED_SHARE not in failed,
            True,
            rejected_rows=report.rejected,
            rows_read=report.rows_read,
            rejected_share=round(rejected_share(report), 6),
            max_rejected_share=limits.max_rejected_share,
            rejected_sample=rejection_sample(report.examples),
        ),
        _result(
            key,
            KNOWN_COLUMNS,
            not report.unknown_columns,
            False,
            unknown_columns=", ".join(report.unknown_columns),
        ),
    ]
    if quality.negative_distance is not None:
        distance_ok = quality.negative_distance == 0
        negative = quality.negative_distance
        results.append(
            _result(key, DISTANCE_NON_NEGATIVE, distance_ok, False, negative_distance_rows=negative)
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
