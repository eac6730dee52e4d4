"""A month failing a blocking lake check never reaches BigQuery or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from devstack.report import layer_counts
from devstack.sample_data import write_month
from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.defs.checks import PICKUP_IN_MONTH
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import resources_for
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys

pytestmark = pytest.mark.integration
BAD_MONTH = "2021-07"


def test_out_of_month_share_stops_the_month_before_the_warehouse(
    stack_dir: Path, local_resources: dict[str, Any]
) -> None:
    write_month(YELLOW, BAD_MONTH, 2_000, stack_dir / "mirror", out_of_month_share=0.3)

    result = dg.materialize(
        build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR),
        partition_key=BAD_MONTH,
        resources=resources_for("local"),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )

    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == PICKUP_IN_MONTH]
    assert not check.passed
    assert 0.2 < check.metadata["out_of_month_share"].value < 0.4
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    keys = trip_asset_keys(YELLOW)
    assert keys["lake"] in materialized
    assert not materialized & {keys["gcs"], keys["bigquery"], keys["postgres"]}
    counts = layer_counts(local_resources, YELLOW, BAD_MONTH)
    assert counts["bigquery_rows"] == counts["postgres_rows"] == 0
