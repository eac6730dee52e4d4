"""Row counts say what they count: `dagster/row_count` of a warehouse trip asset is its whole
table's (what the UI shows as the asset's "Row count"), `month_row_count` each month's."""

from pathlib import Path

import dagster as dg
import pytest

from devstack.sample_data import write_month
from taxi_platform.catalog import COURSE_MIRROR, FHV
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import resources_for
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys

pytestmark = pytest.mark.integration
ROWS = {"2021-04": 1_000, "2021-05": 1_500, "2021-06": 700}


def _latest(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, dict[str, object]]:
    """Each month's latest metadata values."""
    shown: dict[str, dict[str, object]] = {}
    for record in reversed(instance.fetch_materializations(key, limit=100).records):
        mat = record.asset_materialization
        assert mat is not None and mat.partition is not None
        shown[mat.partition] = {label: value.value for label, value in mat.metadata.items()}
    return shown


def test_a_table_counts_its_rows_and_each_month_its_own(
    stack: dict[str, str], stack_dir: Path
) -> None:
    for month, rows in ROWS.items():
        write_month(FHV, month, rows, stack_dir / "mirror", seed=5)
    assets = build_trip_assets(FHV, monthly_partitions(), COURSE_MIRROR)
    batch, alone = list(ROWS)[:2], list(ROWS)[2]
    with dg.instance_for_test() as instance:
        tags = {
            "dagster/asset_partition_range_start": batch[0],
            "dagster/asset_partition_range_end": batch[-1],
        }
        kwargs = {"resources": resources_for("local"), "instance": instance}
        assert dg.materialize(assets, tags=tags, **kwargs).success
        assert dg.materialize(assets, partition_key=alone, **kwargs).success

        keys = trip_asset_keys(FHV)
        for layer in ("bigquery", "postgres"):
            shown = _latest(instance, keys[layer])
            assert {m: v["month_row_count"] for m, v in shown.items()} == ROWS, layer
            assert {m: v["dagster/row_count"] for m, v in shown.items()} == {
                batch[0]: 2_500,
                batch[1]: 2_500,
                alone: 3_200,  # the table after the run: every month landed so far
            }, layer
        lake = _latest(instance, keys["lake"])
        assert {m: v["month_row_count"] for m, v in lake.items()} == ROWS
        assert not any("dagster/row_count" in v for v in lake.values())  # no table: files
