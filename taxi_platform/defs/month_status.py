"""What the instance says about a dataset's months, for the schedules and the sensors: which
have landed, which a queued or running run covers (whichever trigger launched it), and which
the other trigger requested, so that each defers to the other's run."""

import dagster as dg

from taxi_platform import catalog
from taxi_platform.catalog import TaxiDataset
from taxi_platform.lib.backlog import months_covered

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def landed_months(instance: dg.DagsterInstance, ds: TaxiDataset) -> set[str]:
    """Months whose raw file has been materialized."""
    return set(instance.get_materialized_partitions(dg.AssetKey(catalog.trip_key(ds, "raw"))))


def months_in_flight(instance: dg.DagsterInstance, keys: list[str]) -> set[str]:
    """Months a queued or running run covers, whichever trigger launched it."""
    records = instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT))
    return months_covered((record.dagster_run.tags for record in records), keys)


def schedule_name(ds: TaxiDataset) -> str:
    """The name of the dataset's monthly schedule."""
    return f"{ds.name}_monthly_schedule"


def sensor_name(ds: TaxiDataset) -> str:
    """The name of the dataset's new-month sensor."""
    return f"{ds.name}_new_month"


def run_key_used(instance: dg.DagsterInstance, run_key: str) -> bool:
    """Whether any run, of any status and trigger, was launched under `run_key`."""
    return bool(instance.get_run_records(dg.RunsFilter(tags={"dagster/run_key": run_key}), limit=1))


def scheduled_months(instance: dg.DagsterInstance, ds: TaxiDataset) -> dict[str, float]:
    """The months the dataset's schedule launched a run for, with when (epoch seconds)."""
    filters = dg.RunsFilter(tags={"dagster/schedule_name": schedule_name(ds)})
    return {
        record.dagster_run.tags["dagster/partition"]: record.create_timestamp.timestamp()
        for record in reversed(instance.get_run_records(filters))  # the newest run last
        if "dagster/partition" in record.dagster_run.tags
    }
