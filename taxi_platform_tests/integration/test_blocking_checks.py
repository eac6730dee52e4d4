"""Write-audit-publish: a month failing a blocking lake check is never published in the lake,
never reaches a sink, and automation never asks for the layers below it."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from devstack.report import layer_counts
from devstack.sample_data import write_month
from taxi_platform import catalog
from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.defs.automation import follow_upstream
from taxi_platform.defs.checks import PICKUP_IN_MONTH, REJECTED_SHARE
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import resources_for
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys

pytestmark = pytest.mark.integration
MONTH = "2021-07"


def _reject_pickups(path: Path, rows: int) -> None:
    """Make the pickup time of the file's first `rows` data rows unreadable ('soon')."""
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    at = lines[0].split(",").index(YELLOW.pickup_col)
    for i in range(1, rows + 1):
        cells = lines[i].split(",")
        cells[at] = "soon"
        lines[i] = ",".join(cells)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))


def _land_good_month(stack_dir: Path, resources: dict[str, Any]) -> tuple[Path, tuple]:
    """Land a good month in every layer; its lake path, and the lake bytes and layer counts."""
    write_month(YELLOW, MONTH, 2_000, stack_dir / "mirror")
    assert _materialize().success
    lake = catalog.clean_path(resources["lake"].path, YELLOW, MONTH)
    return lake, (lake.read_bytes(), layer_counts(resources, YELLOW, MONTH))


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure.event_specific_data.error.message


def _materialized(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


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


def test_a_month_losing_most_of_its_rows_fails_its_blocking_check_and_reaches_no_sink(
    stack_dir: Path, local_resources: dict[str, Any]
) -> None:
    lake, before = _land_good_month(stack_dir, local_resources)
    # The source re-issues the month with 4,951 of its 5,000 pickups unreadable.
    _reject_pickups(write_month(YELLOW, MONTH, 5_000, stack_dir / "mirror"), 4_951)

    result = _materialize()

    assert not result.success
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == REJECTED_SHARE]
    assert not check.passed and check.partition == MONTH
    numbers = {k: v.value for k, v in check.metadata.items() if k != "rejected_sample"}
    assert numbers == {
        "rejected_rows": 4_951,
        "rows_read": 5_000,
        "rejected_share": 0.9902,
        "max_rejected_share": 0.01,
    }
    assert _materialized(result) == {trip_asset_keys(YELLOW)["raw"]}
    assert REJECTED_SHARE in _failure_message(result)
    assert (lake.read_bytes(), layer_counts(local_resources, YELLOW, MONTH)) == before
    assert not catalog.audit_path(lake).exists()


def test_an_all_rejected_month_names_column_value_and_url_and_shows_its_sample(
    stack_dir: Path, local_resources: dict[str, Any]
) -> None:
    lake, before = _land_good_month(stack_dir, local_resources)
    _reject_pickups(write_month(YELLOW, MONTH, 5_000, stack_dir / "mirror"), 5_000)

    result = _materialize()

    assert not result.success
    message = _failure_message(result)
    url = COURSE_MIRROR.url(local_resources["downloader"].root(COURSE_MIRROR), YELLOW, MONTH)
    assert f"yellow {MONTH}: " in message and "all 5000 rows rejected" in message
    assert f"column {YELLOW.pickup_col}, value 'soon'" in message
    assert url in message and len(message.splitlines()) == 1
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == REJECTED_SHARE]
    assert not check.passed and check.partition == MONTH
    sample = check.metadata["rejected_sample"].value
    assert f"| 2 | {YELLOW.pickup_col} | soon | not a timestamp |" in sample
    assert _materialized(result) == {trip_asset_keys(YELLOW)["raw"]}
    assert (lake.read_bytes(), layer_counts(local_resources, YELLOW, MONTH)) == before
    assert not catalog.audit_path(lake).exists()
