"""The analytics assets: zone_daily_revenue, built month by month in BigQuery and in PostgreSQL."""

import time
from collections.abc import Callable
from typing import Any

import dagster as dg

from taxi_platform.analytics import bigquery_mart, postgres_mart
from taxi_platform.analytics.bigquery_mart import MissingInputError
from taxi_platform.analytics.spec import (
    MART,
    REVENUE_DATASETS,
    MonthSummary,
    column_lineage,
    mart_schema,
)
from taxi_platform.datasets import TaxiDataset
from taxi_platform.pipeline.factory import WAREHOUSE_KEY_PREFIX, asset_keys
from taxi_platform.pipeline.metadata import range_metadata
from taxi_platform.pipeline.zones import BIGQUERY_ZONES_KEY, POSTGRES_ZONES_KEY
from taxi_platform.resources.gcp import WarehouseResource
from taxi_platform.resources.postgres import PostgresResource

ANALYTICS_GROUP = "analytics"
WAREHOUSES = ("bigquery", "postgres")
_ZONES_KEY = {"bigquery": BIGQUERY_ZONES_KEY, "postgres": POSTGRES_ZONES_KEY}
_DESCRIPTION = (
    "Trips and revenue per day, service type (yellow, green) and pickup zone, joined with the "
    "TLC zone lookup; built with SQL inside {where}. A month is replaced atomically "
    "(DELETE + INSERT in one transaction); pickups outside the month are left out."
)

MonthBuilder = Callable[[str], tuple[MonthSummary, list[TaxiDataset]]]


def analytics_keys() -> dict[str, dg.AssetKey]:
    """The mart's asset key in each warehouse: keys name the storage location."""
    return {w: dg.AssetKey([w, WAREHOUSE_KEY_PREFIX, MART]) for w in WAREHOUSES}


def _build_months(
    context: dg.AssetExecutionContext, table: str, build: MonthBuilder
) -> dg.MaterializeResult:
    per_month: dict[str, dict[str, Any]] = {}
    for month in context.partition_keys:
        started = time.monotonic()
        try:
            summary, sources = build(month)
        except MissingInputError as err:
            raise dg.Failure(description=f"{month}: {err}", allow_retries=False) from err
        missing = [ds.name for ds in REVENUE_DATASETS if ds not in sources]
        if missing:
            context.log.warning(f"{month}: no trips table yet for {', '.join(missing)}")
        per_month[month] = {
            **summary.metadata(),
            "seconds": round(time.monotonic() - started, 3),
        }
    return dg.MaterializeResult(
        metadata={
            "dagster/table_name": table,
            "dagster/column_schema": mart_schema(),
            **range_metadata(per_month),
        }
    )


def build_analytics_assets(
    partitions: dg.PartitionsDefinition,
    *,
    automation_condition: dg.AutomationCondition | None = None,
    backfill_policy: dg.BackfillPolicy | None = None,
) -> list[dg.AssetsDefinition]:
    """zone_daily_revenue in BigQuery and in PostgreSQL, partitioned like the trip tables."""
    keys = analytics_keys()

    def common(warehouse: str) -> dict[str, Any]:
        return {
            "key": keys[warehouse],
            "deps": [
                *(asset_keys(ds)[warehouse] for ds in REVENUE_DATASETS),
                _ZONES_KEY[warehouse],
            ],
            "partitions_def": partitions,
            "group_name": ANALYTICS_GROUP,
            "owners": ["team:analytics"],
            "tags": {"layer": "mart"},
            "kinds": {warehouse, "sql"},
            "metadata": {
                "dagster/column_schema": mart_schema(),
                "dagster/column_lineage": column_lineage(warehouse),
            },
            "automation_condition": automation_condition,
            "backfill_policy": backfill_policy,
        }

    @dg.asset(description=_DESCRIPTION.format(where="BigQuery"), **common("bigquery"))
    def bigquery_zone_daily_revenue(
        context: dg.AssetExecutionContext, bigquery: WarehouseResource
    ) -> dg.MaterializeResult:
        with bigquery.get_client() as client:
            table = bigquery_mart.table_id(client, bigquery.dataset_id, MART)
            return _build_months(
                context,
                table,
                lambda month: bigquery_mart.replace_month(client, bigquery.dataset_id, month),
            )

    @dg.asset(description=_DESCRIPTION.format(where="PostgreSQL"), **common("postgres"))
    def postgres_zone_daily_revenue(
        context: dg.AssetExecutionContext, postgres: PostgresResource
    ) -> dg.MaterializeResult:
        with postgres.connect() as conn:
            return _build_months(
                context,
                f"{postgres.schema}.{MART}",
                lambda month: postgres_mart.replace_month(conn, postgres.schema, month),
            )

    return [bigquery_zone_daily_revenue, postgres_zone_daily_revenue]
