"""The code location: one Definitions per dataset, merged with zones, analytics, automation,
the failure alert, the resources and the executor. Settings are read when it loads."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import dagster as dg

from taxi_platform.catalog import ANALYTICS_GROUP, DATASETS, source_named
from taxi_platform.defs.alerts import build_failure_alert_sensor
from taxi_platform.defs.analytics import build_analytics_assets
from taxi_platform.defs.automation import build_automation_sensor, follow_upstream
from taxi_platform.defs.executors import executor_for
from taxi_platform.defs.month_runs import backfill_policy
from taxi_platform.defs.partitions import dataset_partitions, monthly_partitions, newest_month
from taxi_platform.defs.resources import resources_for
from taxi_platform.defs.trips import build_trip_definitions
from taxi_platform.defs.zones import build_zone_assets
from taxi_platform.settings import get_env, load_settings, warehouse_tables

# BackfillPolicy and nonexistent upstream partitions are beta, partitioned checks a preview in
# Dagster 1.13; it is pinned, so the per-asset warnings are noise.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=dg.BetaWarning)
warnings.filterwarnings(
    "ignore", message=".*allow_nonexistent_upstream_partitions.*", category=dg.BetaWarning
)
warnings.filterwarnings("ignore", message=".*AssetCheckSpec.*", category=dg.PreviewWarning)


def build_definitions(now: datetime | None = None) -> dg.Definitions:
    """Everything, for the source `TAXI_SOURCE` names, partitioned up to the newest month it
    is expected to hold at `now`."""
    settings = load_settings()
    source = source_named(settings.source)
    last_month = newest_month(source, settings, now or datetime.now(UTC))
    analytics = dg.Definitions(
        assets=build_analytics_assets(
            monthly_partitions(last_month, first_month=min(source.first_months.values())),
            warehouse_tables(settings),
            automation_condition=follow_upstream(),
            backfill_policy=backfill_policy(settings),
        ),
        jobs=[
            dg.define_asset_job(
                "analytics_monthly",
                selection=dg.AssetSelection.groups(ANALYTICS_GROUP),
                description="zone_daily_revenue in BigQuery and PostgreSQL for one month.",
            )
        ],
    )
    return dg.Definitions.merge(
        *(
            build_trip_definitions(ds, dataset_partitions(ds, source, last_month), source, settings)
            for ds in DATASETS
        ),
        analytics,
        dg.Definitions(
            assets=build_zone_assets(source, warehouse_tables(settings)),
            sensors=[build_failure_alert_sensor(settings), build_automation_sensor(settings)],
            resources=resources_for(get_env()),
            executor=executor_for(settings.executor),
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
