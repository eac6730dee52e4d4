"""Write-audit-publish: a month failing a blocking lake check is never published in the lake,
never reaches a sink, and automation never asks for the layers below it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from devstack.report import layer_counts
from devstack.sample_data import write_month
from taxi_platform import catalog
from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.defs.automation import follow_upstream
from taxi_platform.defs.checks import PICKUP_IN_MONTH
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import resources_for
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys

pytestmark = pytest.mark.integration
MONTH = "2021-07"


def _materialize() -> dg.ExecuteInProcessResult:
    return dg.materialize(
        build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR),
        partition_key=MONTH,
        resources=resources_for("local"),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_a_month_failing_a_blocking_check_keeps_the_published_month_everywhere(
    stack_dir: Path, local_resources: dict[str, Any]
) -> None:
    write_month(YELLOW, MONTH, 2_000, stack_dir / "mirror")
    assert _materialize().success
    lake = catalog.clean_path(local_resources["lake"].path, YELLOW, MONTH)
    before = (lake.read_bytes(), layer_counts(local_resources, YELLOW, MONTH))
    # The source re-issues the month with January's trips in it: 30 % out of month.
    write_month(YELLOW, MONTH, 2_500, stack_dir / "mirror", out_of_month_share=0.3)

    result = _materialize()

    assert not result.success
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == PICKUP_IN_MONTH]
    assert not check.passed and check.partition == MONTH
    assert 0.2 < check.metadata["out_of_month_share"].value < 0.4
    keys = trip_asset_keys(YELLOW)
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {keys["raw"]}
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.message
    assert f"yellow {MONTH}: yellow_tripdata_{MONTH}.parquet failed blocking checks" in message
    assert PICKUP_IN_MONTH in message
    assert (lake.read_bytes(), layer_counts(local_resources, YELLOW, MONTH)) == before
    assert not catalog.audit_path(lake).exists()


def test_automation_waits_for_the_blocking_checks_of_upstream_months() -> None:
    assert "all_deps_blocking_checks_passed" in repr(follow_upstream())
