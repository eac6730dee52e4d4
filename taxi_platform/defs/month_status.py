"""What the instance says about a dataset's months, for the schedules and the sensors: which
have landed, and which a queued or running run covers (whichever trigger launched it)."""

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
