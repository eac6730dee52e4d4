"""The code location: every asset, job and resource, assembled in one place."""

from __future__ import annotations

import dagster as dg

from taxi_platform.datasets import DATASETS
from taxi_platform.env import get_env, last_month
from taxi_platform.partitions import monthly_partitions
from taxi_platform.pipeline.factory import build_trip_assets
from taxi_platform.pipeline.zones import taxi_zone_lookup
from taxi_platform.resources import resources_for


def build_definitions() -> dg.Definitions:
    partitions = monthly_partitions(last_month())
    assets = [taxi_zone_lookup]
    jobs = []
    for ds in DATASETS:
        assets += build_trip_assets(ds, partitions)
        jobs.append(
            dg.define_asset_job(
                f"{ds.name}_monthly",
                selection=dg.AssetSelection.groups(ds.name),
                description=f"Every layer of {ds.name} for one month.",
            )
        )
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        resources=resources_for(get_env()),
        # One process per run: the steps are I/O- and Arrow-bound, and a subprocess per step
        # costs seconds of imports each. Runs in parallel come from the run queue instead.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
