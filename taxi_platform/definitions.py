"""The code location: every asset, job, schedule, sensor and resource, assembled in one place."""

from __future__ import annotations

import warnings

import dagster as dg

from taxi_platform.analytics import build_analytics_assets
from taxi_platform.datasets import DATASETS
from taxi_platform.env import get_env, load_settings
from taxi_platform.executors import executor_from_env
from taxi_platform.partitions import monthly_partitions
from taxi_platform.pipeline.factory import MONTHS_PER_RUN, build_trip_assets, follow_upstream
from taxi_platform.pipeline.zones import ZONE_ASSETS
from taxi_platform.resources import resources_for
from taxi_platform.schedules import build_monthly_schedule
from taxi_platform.sensors import build_failure_alert_sensor, build_new_month_sensor

# BackfillPolicy is beta in Dagster 1.13; it is pinned, so the per-asset warning is noise.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=dg.BetaWarning)


def build_definitions() -> dg.Definitions:
    settings = load_settings()
    partitions = monthly_partitions(settings.last_month)
    assets: list[dg.AssetsDefinition] = [*ZONE_ASSETS]
    jobs, schedules, sensors = [], [], [build_failure_alert_sensor(settings)]
    for ds in DATASETS:
        assets += build_trip_assets(ds, partitions)
        job = dg.define_asset_job(
            f"{ds.name}_monthly",
            selection=dg.AssetSelection.groups(ds.name),
            description=f"Every layer of {ds.name} for one month.",
        )
        jobs.append(job)
        schedules.append(build_monthly_schedule(ds, job, partitions, settings))
        sensors.append(build_new_month_sensor(ds, job, partitions, settings))
    assets += build_analytics_assets(
        partitions,
        automation_condition=follow_upstream(),
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=MONTHS_PER_RUN),
    )
    jobs.append(
        dg.define_asset_job(
            "analytics_monthly",
            selection=dg.AssetSelection.groups("analytics"),
            description="zone_daily_revenue in BigQuery and PostgreSQL for one month.",
        )
    )
    sensors.append(
        dg.AutomationConditionSensorDefinition(
            "taxi_automation",
            target=dg.AssetSelection.all(),
            default_status=dg.DefaultSensorStatus.RUNNING
            if settings.automation_on
            else dg.DefaultSensorStatus.STOPPED,
            description="Lets downstream layers follow a newly landed month (TAXI_AUTOMATION).",
        )
    )
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources=resources_for(get_env()),
        executor=executor_from_env(),
    )


defs = build_definitions()
