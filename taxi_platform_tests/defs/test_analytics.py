"""The analytics and zone assets read on their own in the graph: keys, deps, owners, kinds,
schemas and column lineage (no services needed)."""

from __future__ import annotations

import dagster as dg
import pytest

from taxi_platform.catalog import (
    ANALYTICS_GROUP,
    COURSE_MIRROR,
    ZONE_COLUMNS,
    ZONES_GROUP,
    zone_key,
)
from taxi_platform.defs.analytics import analytics_keys, build_analytics_assets
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import resources_for
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys
from taxi_platform.defs.zones import ZONE_LOOKUP_KEY, build_zone_assets
from taxi_platform.lib.marts import COLUMN_NAMES, MART_DATASETS
from taxi_platform.settings import load_settings

PARTITIONS = monthly_partitions("2021-03")
ZONE_TABLE_KEYS = [dg.AssetKey(zone_key("bigquery")), dg.AssetKey(zone_key("postgres"))]


def _defs() -> dg.Definitions:
    trips = [a for ds in MART_DATASETS for a in build_trip_assets(ds, PARTITIONS, COURSE_MIRROR)]
    return dg.Definitions(
        assets=[*build_zone_assets(COURSE_MIRROR), *trips, *build_analytics_assets(PARTITIONS)],
        resources=resources_for("local"),
    )


def _full_name(warehouse: str, table: str) -> str:
    """project.dataset.table in BigQuery, database.schema.table in PostgreSQL, as configured."""
    settings = load_settings()
    if warehouse == "bigquery":
        return f"{settings.bigquery_project}.{settings.bigquery_dataset}.{table}"
    return f"{settings.postgres_database}.{settings.postgres_schema}.{table}"


def _spec(key: dg.AssetKey) -> dg.AssetSpec:
    return next(s for s in _defs().resolve_all_asset_specs() if s.key == key)


def test_definitions_with_analytics_validate() -> None:
    dg.Definitions.validate_loadable(_defs())


@pytest.mark.parametrize("warehouse", ["bigquery", "postgres"])
def test_mart_depends_on_every_trips_table_and_the_zones_of_its_warehouse(warehouse: str) -> None:
    spec = _spec(analytics_keys()[warehouse])

    zones = dg.AssetKey(zone_key(warehouse))
    expected = {trip_asset_keys(ds)[warehouse] for ds in MART_DATASETS} | {zones}
    assert {dep.asset_key for dep in spec.deps} == expected
    assert spec.key.path[:2] == [warehouse, "taxi"]
    assert spec.metadata["dagster/table_name"] == _full_name(warehouse, "zone_daily_revenue")
    assert spec.group_name == ANALYTICS_GROUP
    assert spec.partitions_def == PARTITIONS
    assert spec.owners and spec.description and warehouse in spec.kinds


@pytest.mark.parametrize("warehouse", ["bigquery", "postgres"])
def test_mart_declares_its_schema_and_column_lineage(warehouse: str) -> None:
    metadata = _spec(analytics_keys()[warehouse]).metadata

    schema = metadata["dagster/column_schema"]
    assert [c.name for c in schema.columns] == list(COLUMN_NAMES)
    lineage = metadata["dagster/column_lineage"].deps_by_column
    assert set(lineage) == set(COLUMN_NAMES) - {"service_type"}
    upstream = {dep.asset_key for deps in lineage.values() for dep in deps}
    assert trip_asset_keys(MART_DATASETS[0])[warehouse] in upstream
    pickup_sources = {(d.asset_key, d.column_name) for d in lineage["pickup_date"]}
    assert pickup_sources == {
        (trip_asset_keys(ds)[warehouse], ds.pickup_col) for ds in MART_DATASETS
    }


def test_zone_assets_are_one_group_from_the_lake_csv() -> None:
    for key in (ZONE_LOOKUP_KEY, *ZONE_TABLE_KEYS):
        spec = _spec(key)
        assert spec.group_name == ZONES_GROUP
        assert spec.owners and spec.description and spec.kinds
    for key, warehouse in zip(ZONE_TABLE_KEYS, ("bigquery", "postgres"), strict=True):
        assert {d.asset_key for d in _spec(key).deps} == {ZONE_LOOKUP_KEY}
        assert _spec(key).metadata["dagster/table_name"] == _full_name(
            warehouse, "taxi_zone_lookup"
        )
    assert len(ZONE_COLUMNS) == 4
