"""zone_daily_revenue on the real local services: the zone lookup lands in both warehouses,
a month of the mart holds exactly the lake's in-month trips and revenue in BigQuery and in
PostgreSQL, and rebuilding or failing half-way never leaves a month doubled or empty."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dagster as dg
import psycopg
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from google.api_core.exceptions import BadRequest

from taxi_platform import catalog
from taxi_platform.catalog import COURSE_MIRROR, GREEN, YELLOW, ZONE_TABLE, TaxiDataset
from taxi_platform.defs.analytics import analytics_keys, build_analytics_assets
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import resources_for
from taxi_platform.defs.trips import build_trip_assets
from taxi_platform.defs.zones import build_zone_assets
from taxi_platform.lib import marts
from taxi_platform.lib.marts import MissingInputError
from taxi_platform.lib.warehouse import bigquery as bigquery_engine
from taxi_platform.lib.warehouse import postgres as postgres_engine

pytestmark = pytest.mark.integration
MONTH = "2021-01"
PARTITIONS = monthly_partitions()
LANDED = (YELLOW, GREEN)  # the course mirror's months the sample generator writes


def _materialize(assets: list[dg.AssetsDefinition], **kwargs: Any) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets, resources=resources_for("local"), instance=dg.DagsterInstance.ephemeral(), **kwargs
    )


def _materialize_mart() -> dg.ExecuteInProcessResult:
    return _materialize(build_analytics_assets(PARTITIONS), partition_key=MONTH)


@pytest.fixture(scope="module")
def landed(local_resources: dict[str, Any]) -> dict[str, Any]:
    """The zone lookup and one month of yellow and green trips in both warehouses."""
    assert _materialize(build_zone_assets(COURSE_MIRROR)).success
    for ds in LANDED:
        trips = build_trip_assets(ds, PARTITIONS, COURSE_MIRROR)
        assert _materialize(trips, partition_key=MONTH).success
    return local_resources


def _lake_truth(resources: dict[str, Any], ds: TaxiDataset) -> tuple[int, float]:
    """Trips picked up inside MONTH and their total_amount, straight from the lake parquet."""
    table = pq.read_table(
        catalog.clean_path(resources["lake"].path, ds, MONTH),
        columns=[ds.pickup_col, "total_amount"],
    )
    start, end = datetime(2021, 1, 1), datetime(2021, 2, 1)  # wall-clock, like the lake
    pickup = table.column(ds.pickup_col)
    inside = pc.and_(pc.greater_equal(pickup, start), pc.less(pickup, end))
    kept = table.filter(inside)
    return kept.num_rows, pc.sum(kept.column("total_amount")).as_py() or 0.0


def _bigquery_summary(resources: dict[str, Any]) -> dict[str, float]:
    warehouse = resources["bigquery"]
    with warehouse.get_client() as client:
        return bigquery_engine.mart_month_summary(client, warehouse.dataset_id, MONTH).metadata()


def _postgres_summary(resources: dict[str, Any]) -> dict[str, float]:
    postgres = resources["postgres"]
    with postgres.connect() as conn:
        return postgres_engine.mart_month_summary(conn, postgres.schema, MONTH).metadata()


def test_zone_lookup_lands_in_both_warehouses(landed: dict[str, Any]) -> None:
    result = _materialize(build_zone_assets(COURSE_MIRROR))  # a second time: replaced, not appended

    rows = {
        e.asset_key.path[0]: e.materialization.metadata["dagster/row_count"].value
        for e in result.get_asset_materialization_events()
    }
    assert rows["raw"] == rows["bigquery"] == rows["postgres"] > 0
    warehouse, postgres = landed["bigquery"], landed["postgres"]
    with warehouse.get_client() as client:
        table = f"{client.project}.{warehouse.dataset_id}.{ZONE_TABLE}"
        [[borough]] = client.query(
            f"SELECT borough FROM `{table}` WHERE location_id = 1", job_retry=None
        ).result()
    with postgres.connect() as conn:
        query = f"SELECT borough FROM {postgres.schema}.{ZONE_TABLE} WHERE location_id = 1"
        [(pg_borough,)] = conn.execute(query).fetchall()
    assert borough == pg_borough == "EWR"


def test_month_holds_the_lakes_trips_and_revenue_in_both_warehouses(
    landed: dict[str, Any],
) -> None:
    result = _materialize_mart()

    assert result.success
    bigquery, postgres = _bigquery_summary(landed), _postgres_summary(landed)
    for ds in LANDED:
        trips, revenue = _lake_truth(landed, ds)
        assert bigquery[f"trips_{ds.name}"] == postgres[f"trips_{ds.name}"] == trips > 0
        for summary in (bigquery, postgres):
            assert summary[f"revenue_usd_{ds.name}"] == pytest.approx(revenue, abs=0.01 * trips)
    assert bigquery["dagster/row_count"] == postgres["dagster/row_count"] > 0
    events = {
        e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    for key in analytics_keys().values():
        assert events[key]["trips"].value == bigquery["trips"]
        assert events[key]["dagster/row_count"].value == bigquery["dagster/row_count"]


def test_rebuilding_a_month_replaces_it(landed: dict[str, Any]) -> None:
    assert _materialize_mart().success
    first = (_bigquery_summary(landed), _postgres_summary(landed))

    assert _materialize_mart().success

    assert (_bigquery_summary(landed), _postgres_summary(landed)) == first


def test_a_failed_rebuild_keeps_the_old_month(
    landed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _materialize_mart().success
    before = (_bigquery_summary(landed), _postgres_summary(landed))
    # Each INSERT fails after the month was deleted, inside the same transaction.
    select = marts.month_select
    failing = {"bigquery": "CAST(ERROR('injected') AS INT64) + SUM(", "postgres": "1 / 0 + SUM("}
    monkeypatch.setattr(
        marts,
        "month_select",
        lambda month, sources, dialect, qualified: select(
            month, sources, dialect, qualified
        ).replace("SUM(", failing[dialect], 1),
    )

    warehouse, postgres = landed["bigquery"], landed["postgres"]
    with warehouse.get_client() as client, pytest.raises(BadRequest, match="injected"):
        bigquery_engine.replace_mart_month(client, warehouse.dataset_id, MONTH)
    with postgres.connect() as conn, pytest.raises(psycopg.Error, match="division by zero"):
        postgres_engine.replace_mart_month(conn, postgres.schema, MONTH)

    assert (_bigquery_summary(landed), _postgres_summary(landed)) == before


def test_missing_zone_table_fails_with_a_clear_message(landed: dict[str, Any]) -> None:
    postgres = landed["postgres"]
    with postgres.connect() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS analytics_empty")
        conn.commit()
        with pytest.raises(MissingInputError, match="zone lookup"):
            postgres_engine.replace_mart_month(conn, "analytics_empty", MONTH)
    warehouse = landed["bigquery"]
    with warehouse.get_client() as client:
        client.create_dataset("analytics_empty", exists_ok=True)
        with pytest.raises(MissingInputError, match="zone lookup"):
            bigquery_engine.replace_mart_month(client, "analytics_empty", MONTH)


def test_a_run_over_several_months_reports_each_month_on_its_own_partition(
    landed: dict[str, Any],
) -> None:
    result = _materialize(
        build_analytics_assets(PARTITIONS),
        tags={
            "dagster/asset_partition_range_start": "2020-12",
            "dagster/asset_partition_range_end": MONTH,
        },
    )

    assert result.success
    one_month = {
        e.asset_key: e.materialization.metadata["trips"].value
        for e in _materialize_mart().get_asset_materialization_events()
    }
    by_month = {
        (e.asset_key, e.partition): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    for key in analytics_keys().values():
        assert by_month[(key, MONTH)]["trips"].value == one_month[key] > 0, key
        assert by_month[(key, "2020-12")]["batch"].value == f"2020-12..{MONTH}", key
