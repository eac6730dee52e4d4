"""One month through every layer on the real local services, and re-runs that change nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from devstack.report import layer_counts
from devstack.sample_data import write_month
from taxi_platform import catalog
from taxi_platform.catalog import COURSE_MIRROR, GREEN, YELLOW, TaxiDataset
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import resources_for
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys

pytestmark = pytest.mark.integration
MONTH = "2021-01"


def _materialize(ds: TaxiDataset, month: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        build_trip_assets(ds, monthly_partitions(), COURSE_MIRROR),
        partition_key=month,
        resources=resources_for("local"),
        instance=dg.DagsterInstance.ephemeral(),
    )


@pytest.mark.parametrize("ds", [YELLOW, GREEN], ids=lambda ds: ds.name)
def test_month_lands_in_every_layer(local_resources: dict[str, Any], ds: TaxiDataset) -> None:
    result = _materialize(ds, MONTH)

    assert result.success
    resources = local_resources
    counts = layer_counts(resources, ds, MONTH)
    assert counts["lake_rows"] > 0
    assert counts["bigquery_rows"] == counts["lake_rows"]
    assert counts["postgres_rows"] == counts["lake_rows"]
    assert all(check.passed for check in result.get_asset_check_evaluations())
    lake_file = catalog.clean_path(resources["lake"].path, ds, MONTH)
    gcs = resources["gcs"]
    blob = gcs.get_client().bucket(gcs.bucket).blob(catalog.gcs_key(ds, MONTH))
    assert blob.download_as_bytes() == lake_file.read_bytes()


def test_rematerializing_a_month_three_times_keeps_one_copy(
    local_resources: dict[str, Any],
) -> None:
    for _ in range(3):
        assert _materialize(YELLOW, "2021-02").success

    counts = layer_counts(local_resources, YELLOW, "2021-02")
    assert counts["bigquery_rows"] == counts["postgres_rows"] == counts["lake_rows"] > 0


def test_unchanged_source_is_not_downloaded_again(stack: dict[str, str]) -> None:
    _materialize(GREEN, "2021-02")

    second = _materialize(GREEN, "2021-02")

    raw_key = trip_asset_keys(GREEN)["raw"]
    [raw] = [e for e in second.get_asset_materialization_events() if e.asset_key == raw_key]
    assert raw.materialization.metadata["downloaded"].value is False
    assert raw.materialization.metadata["unchanged"].value is True


def _materialize_range(
    first: str, last: str, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    """Every yellow layer in one run over the months `first`..`last`, as a backfill batch."""
    return dg.materialize(
        build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR),
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
        resources=resources_for("local"),
        instance=instance,
    )


def test_a_batch_of_months_lands_each_month_and_reports_it_on_its_own_partition(
    stack_dir: Path, local_resources: dict[str, Any]
) -> None:
    months = {"2020-04": 300, "2020-05": 400, "2020-06": 500}
    for month, rows in months.items():
        write_month(YELLOW, month, rows, stack_dir / "mirror")
    instance = dg.DagsterInstance.ephemeral()

    result = _materialize_range("2020-04", "2020-06", instance)

    assert result.success
    keys = trip_asset_keys(YELLOW)
    check_names = {
        key: {check.name for check in assets_def.check_keys}
        for assets_def in build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR)
        for key in assets_def.keys
    }
    evaluations = [e for e in result.get_asset_check_evaluations() if e.partition]
    for month in months:
        counts = layer_counts(local_resources, YELLOW, month)
        assert counts["bigquery_rows"] == counts["postgres_rows"] == counts["lake_rows"] > 0
        for layer, key in keys.items():
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[month]), limit=5
            ).records
            [metadata] = [r.asset_materialization.metadata for r in records]
            assert metadata["batch"].value == "2020-04..2020-06", key
            if layer in ("lake", "bigquery", "postgres"):
                assert metadata["month_row_count"].value == counts["lake_rows"], (key, month)
            mine = [e for e in evaluations if e.asset_key == key and e.partition == month]
            checked = {e.check_name for e in mine}
            assert checked == check_names[key], (key, month)
    assert all(e.passed for e in evaluations)
    assert len({layer_counts(local_resources, YELLOW, m)["lake_rows"] for m in months}) == 3


def test_a_range_of_one_month_puts_its_checks_on_the_month(
    stack_dir: Path, local_resources: dict[str, Any]
) -> None:
    # A job backfill with a backfill policy launches even one month as a range.
    write_month(YELLOW, "2020-07", 300, stack_dir / "mirror")

    result = _materialize_range("2020-07", "2020-07", dg.DagsterInstance.ephemeral())

    assert result.success
    on_month = {
        (e.asset_key, e.check_name)
        for e in result.get_asset_check_evaluations()
        if e.partition == "2020-07"
    }
    for assets_def in build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR):
        for check in assets_def.check_keys:
            assert (check.asset_key, check.name) in on_month
