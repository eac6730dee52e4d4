"""Each dataset's freshness check: has every month the source published landed in time?

Judged by `lib/freshness.py` from the record the new-month sensor's probes leave in the lake.
The sensor reports the check each time its verdict changes; running the check by hand (or in
the UI) judges the same record against the months landed now."""

import time

import dagster as dg

from taxi_platform import catalog
from taxi_platform.catalog import TaxiDataset
from taxi_platform.defs.month_status import landed_months
from taxi_platform.defs.resources import LakeResource
from taxi_platform.lib.freshness import Freshness, PublishedMonths, judge, read_published
from taxi_platform.settings import Settings

SOURCE_FRESHNESS = "fresh_with_source"
NEVER_PROBED = "the new-month sensor has not probed the source yet"


def freshness_metadata(verdict: Freshness) -> dict[str, dg.MetadataValue]:
    """What the check shows: the newest published month and the months behind and overdue."""
    return {
        "newest_published": dg.MetadataValue.text(verdict.newest_published or "none"),
        "months_behind": dg.MetadataValue.int(len(verdict.behind)),
        "months_overdue": dg.MetadataValue.int(len(verdict.overdue)),
        "allowance_hours": dg.MetadataValue.float(float(verdict.allowance_hours)),
        "verdict": dg.MetadataValue.text(verdict.described),
    }


def freshness_evaluation(ds: TaxiDataset, verdict: Freshness) -> dg.AssetCheckEvaluation:
    """The check's result as the sensor reports it."""
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(catalog.trip_key(ds, "raw")),
        check_name=SOURCE_FRESHNESS,
        passed=verdict.fresh,
        severity=dg.AssetCheckSeverity.WARN,
        description=verdict.described,
        metadata=freshness_metadata(verdict),
    )


def judge_dataset(
    ds: TaxiDataset,
    record: PublishedMonths,
    keys: list[str],
    landed: frozenset[str],
    settings: Settings,
) -> Freshness:
    return judge(ds.name, record, keys, landed, settings.freshness_hours, time.time())


def build_freshness_check(
    ds: TaxiDataset, partitions: dg.PartitionsDefinition, settings: Settings
) -> dg.AssetChecksDefinition:
    """The dataset's freshness check, on its raw asset (not part of the monthly job)."""

    @dg.asset_check(
        asset=dg.AssetKey(catalog.trip_key(ds, "raw")),
        name=SOURCE_FRESHNESS,
        description=f"Every {ds.name} month the source has published (as the new-month"
        f" sensor's probes found) has landed within TAXI_FRESHNESS_HOURS"
        f" ({settings.freshness_hours} h) of the sensor first seeing it.",
    )
    def fresh_with_source(
        context: dg.AssetCheckExecutionContext, lake: LakeResource
    ) -> dg.AssetCheckResult:
        record = read_published(catalog.published_record_path(lake.path, ds))
        if record is None:
            return dg.AssetCheckResult(
                passed=True, severity=dg.AssetCheckSeverity.WARN, description=NEVER_PROBED
            )
        landed = frozenset(landed_months(context.instance, ds))
        keys = partitions.get_partition_keys()
        verdict = judge_dataset(ds, record, keys, landed, settings)
        return dg.AssetCheckResult(
            passed=verdict.fresh,
            severity=dg.AssetCheckSeverity.WARN,
            description=verdict.described,
            metadata=freshness_metadata(verdict),
        )

    return fresh_with_source
