"""Monthly schedules: each materializes the newest month the source should have published."""

import dagster as dg

from taxi_platform.catalog import TaxiDataset
from taxi_platform.defs.month_status import (
    landed_months,
    months_in_flight,
    run_key_used,
    schedule_name,
)
from taxi_platform.lib.backlog import run_key
from taxi_platform.lib.months import months_before
from taxi_platform.settings import Settings


def build_monthly_schedule(
    ds: TaxiDataset,
    job_name: str,
    partitions: dg.PartitionsDefinition,
    settings: Settings,
) -> dg.ScheduleDefinition:
    """Run `job_name` for the month published `publication_lag_months` ago, on the cron,
    unless that month has landed, a run (of any trigger) is on it, or it was requested before
    (by the new-month sensor, which retries its months). The run key is the one the sensor
    gives a month's first request."""

    @dg.schedule(
        name=schedule_name(ds),
        job_name=job_name,
        cron_schedule=settings.schedule_cron,
        execution_timezone=settings.schedule_timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING
        if settings.schedules_on
        else dg.DefaultScheduleStatus.STOPPED,
        description=f"Every layer of {ds.name} for the month the TLC should have published "
        f"{settings.publication_lag_months} months before the tick.",
    )
    def monthly_schedule(context: dg.ScheduleEvaluationContext):
        month = months_before(context.scheduled_execution_time, settings.publication_lag_months)
        keys = partitions.get_partition_keys(current_time=context.scheduled_execution_time)
        if month not in keys:
            return dg.SkipReason(f"{ds.name} {month} is outside the configured partitions")
        landed = landed_months(context.instance, ds)
        if month in landed or month in months_in_flight(context.instance, keys):
            return dg.SkipReason(f"{ds.name} {month} has landed or is running already")
        key = run_key(ds.name, month, 1)
        if run_key_used(context.instance, key):
            return dg.SkipReason(
                f"{ds.name} {month} was requested before (run key {key});"
                " the new-month sensor retries it"
            )
        return dg.RunRequest(run_key=key, partition_key=month)

    return monthly_schedule
