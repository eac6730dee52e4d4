"""The asset checks of every layer, judged from measures the library takes."""

from __future__ import annotations

import dagster as dg

from taxi_platform.catalog import TaxiDataset
from taxi_platform.lib.lake import CleanReport
from taxi_platform.lib.quality import LakeQuality, has_distance

PICKUP_PRESENT = "pickup_present"
PICKUP_IN_MONTH = "pickup_in_month"
DISTANCE_NON_NEGATIVE = "trip_distance_non_negative"
ROWS_RECONCILE = "rows_reconcile_with_raw"
ROWS_MATCH_LAKE = "rows_match_lake"
KNOWN_COLUMNS = "columns_known"


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
    specs.append(
        dg.AssetCheckSpec(
            KNOWN_COLUMNS,
            asset=key,
            description="Every source column is in the canonical schema (warning: an unknown"
            " one is kept in the lake file and named here).",
        )
    )
    if has_distance(ds):
        specs.append(
            dg.AssetCheckSpec(
                DISTANCE_NON_NEGATIVE, asset=key, description="No negative trip_distance (warning)."
            )
        )
    return specs


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
    quality: dict[str, LakeQuality],
    reports: dict[str, CleanReport],
    key: dg.AssetKey,
    max_out_of_month_share: float,
) -> list[dg.AssetCheckResult]:
    """Evaluate the lake checks over the months of a run (all months must pass)."""

    def result(name: str, passed: bool, severity: dg.AssetCheckSeverity, **numbers: object):
        return dg.AssetCheckResult(
            check_name=name, asset_key=key, passed=passed, severity=severity, metadata=numbers
        )

    error, warn = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
    months = sorted(quality)
    failed = {
        name
        for m in months
        for name in failed_blocking_checks(quality[m], reports[m], max_out_of_month_share)
    }
    worst = max(months, key=lambda m: quality[m].out_of_month_share)
    results = [
        result(
            PICKUP_PRESENT,
            PICKUP_PRESENT not in failed,
            error,
            null_pickups=sum(quality[m].null_pickups for m in months),
        ),
        result(
            PICKUP_IN_MONTH,
            PICKUP_IN_MONTH not in failed,
            error,
            out_of_month_rows=sum(quality[m].out_of_month for m in months),
            out_of_month_share=round(quality[worst].out_of_month_share, 6),
            worst_month=worst,
            max_share=max_out_of_month_share,
        ),
        result(
            ROWS_RECONCILE,
            ROWS_RECONCILE not in failed,
            error,
            lake_rows=sum(quality[m].rows for m in months),
            raw_rows=sum(reports[m].rows_read for m in months),
            rejected_rows=sum(reports[m].rejected for m in months),
        ),
    ]
    unknown = sorted({c for m in months for c in reports[m].unknown_columns})
    results.append(result(KNOWN_COLUMNS, not unknown, warn, unknown_columns=", ".join(unknown)))
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
