"""The analytics assets: zone_daily_revenue, built month by month inside BigQuery and
PostgreSQL from the one query in `taxi_platform.lib.marts`."""

from collections.abc import Callable

import dagster as dg

from taxi_platform import catalog
from taxi_platform.catalog import (
    ANALYTICS_GROUP,
    BIGQUERY_TYPES,
    ENGINES,
    MART_TABLE,
    ZONE_TABLE,
    Engine,
    TaxiDataset,
)
from taxi_platform.defs.asset_options import AssetOptions
from taxi_platform.defs.month_runs import SINK_RETRY, MonthReport, report_months, run_months
from taxi_platform.defs.resources import BigQueryDatasetResource, PostgresResource
from taxi_platform.lib import marts
from taxi_platform.lib.warehouse import bigquery as bigquery_engine
from taxi_platform.lib.warehouse import postgres as postgres_engine
from taxi_platform.settings import load_settings, warehouse_tables

_DESCRIPTION = (
    "Trips and revenue per day, service (yellow, green, fhv, fhvhv) and pickup zone, joined with"
    " the TLC zone lookup; built with SQL inside {where}. A month is replaced atomically"
    " (DELETE + INSERT in one transaction); pickups outside the month are left out."
)


MonthBuilder = Callable[[str], tuple[marts.MonthSummary, tuple[TaxiDataset, ...]]]


def analytics_keys() -> dict[Engine, dg.AssetKey]:
    """The mart's asset key in each warehouse: keys name the storage location."""
    return {engine: dg.AssetKey(catalog.mart_key(engine)) for engine in ENGINES}


def _input_keys(engine: Engine) -> dict[str, dg.AssetKey]:
    """The asset key of each table the mart reads in `engine`, by table name."""
    keys = {ZONE_TABLE: dg.AssetKey(catalog.zone_key(engine))}
    for ds in marts.MART_DATASETS:
        keys[catalog.trips_table(ds)] = dg.AssetKey(catalog.trip_key(ds, engine))
    return keys


def mart_schema() -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(c.name, BIGQUERY_TYPES[c.kind], description=c.description)
            for c in marts.COLUMNS
        ]
    )


def column_lineage(engine: Engine) -> dg.TableColumnLineage:
    """Which input columns each mart column is computed from, read from the mart's query."""
    keys = _input_keys(engine)
    return dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=keys[table], column_name=c) for table, c in deps]
            for column, deps in marts.column_lineage().items()
        }
    )


def _build_months(context: dg.AssetExecutionContext, build: MonthBuilder) -> dg.MaterializeResult:
    """Build each of the run's months of the mart, each reported on its own partition."""

    def build_month(month: str) -> marts.MonthSummary:
        summary, sources = build(month)
        missing = [ds.name for ds in marts.MART_DATASETS if ds not in sources]
        if missing:
            context.log.warning(f"{month}: no trips table yet for {', '.join(missing)}")
        return summary

    runs = run_months(context, MART_TABLE, build_month)
    return report_months(
        context, [MonthReport(run.month, run.value.metadata(), run.seconds) for run in runs]
    )


def _mart_asset(
    options: AssetOptions, tables: catalog.WarehouseTables, engine: Engine, where: str
) -> Callable[[Callable[..., dg.MaterializeResult]], dg.AssetsDefinition]:
    """The mart's asset in `engine`, reading the same month of each trip table (datasets start
    in different months: a mart month reads the trip months that exist) and the zone table."""
    same_month = dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True)
    return options.asset(
        analytics_keys()[engine],
        {engine, "sql"},
        deps=[
            dg.AssetDep(key, partition_mapping=None if table == ZONE_TABLE else same_month)
            for table, key in _input_keys(engine).items()
        ],
        description=_DESCRIPTION.format(where=where),
        metadata={
            "dagster/table_name": tables.name(engine, MART_TABLE),
            "dagster/column_schema": mart_schema(),
            "dagster/column_lineage": column_lineage(engine),
        },
    )


def build_analytics_assets(
    partitions: dg.PartitionsDefinition,
    tables: catalog.WarehouseTables | None = None,
    *,
    automation_condition: dg.AutomationCondition | None = None,
    backfill_policy: dg.BackfillPolicy | None = None,
) -> list[dg.AssetsDefinition]:
    """zone_daily_revenue in BigQuery and in PostgreSQL, partitioned like the trip tables."""
    tables = tables or warehouse_tables(load_settings())
    options = AssetOptions(
        group_name=ANALYTICS_GROUP,
        owners=("team:analytics",),
        tags={"layer": "mart"},
        code_version="2",  # bumped when the mart's query changes; 2: wall-clock days
        partitions_def=partitions,
        backfill_policy=backfill_policy,
        automation_condition=automation_condition,
        retry_policy=SINK_RETRY,  # a transient warehouse error (say, a deadlock)
    )

    @_mart_asset(options, tables, "bigquery", "BigQuery")
    def bigquery_zone_daily_revenue(
        context: dg.AssetExecutionContext, bigquery: BigQueryDatasetResource
    ) -> dg.MaterializeResult:
        with bigquery.get_client() as client:
            return _build_months(
                context,
                lambda month: bigquery_engine.replace_mart_month(
                    client, bigquery.dataset_id, month
                ),
            )

    @_mart_asset(options, tables, "postgres", "PostgreSQL")
    def postgres_zone_daily_revenue(
        context: dg.AssetExecutionContext, postgres: PostgresResource
    ) -> dg.MaterializeResult:
        def build(month: str) -> tuple[marts.MonthSummary, tuple[TaxiDataset, ...]]:
            with postgres.connect() as conn:  # inside the month's attempt: its errors are judged
                return postgres_engine.replace_mart_month(conn, postgres.schema, month)

        return _build_months(context, build)

    return [bigquery_zone_daily_revenue, postgres_zone_daily_revenue]
