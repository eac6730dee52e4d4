"""The code location: every asset, job, schedule, sensor and resource, assembled in one place."""

from __future__ import annotations

import dagster as dg

from taxi_platform.datasets import DATASETS
from taxi_platform.env import get_env, load_settings
from taxi_platform.partitions import monthly_partitions
from taxi_platform.pipeline.factory import build_trip_assets
from taxi_platform.pipeline.zones import taxi_zone_lookup
from taxi_platform.resources import resources_for
from taxi_platform.schedules import build_monthly_schedule
from taxi_platform.sensors import build_failure_alert_sensor, build_new_month_sensor


def build_definitions() -> dg.Definitions:
    settings = load_settings()
    partitions = monthly_partitions(settings.last_month)
    assets: list[dg.AssetsDefinition] = [taxi_zone_lookup]
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
        # One process per run: the steps are I/O- and Arrow-bound, and a subprocess per step
        # costs seconds of imports each. Runs in parallel come from the run queue instead.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
