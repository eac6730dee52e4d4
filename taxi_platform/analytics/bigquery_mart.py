"""Build a month of zone_daily_revenue inside BigQuery (SQL only; no rows leave the warehouse).

The month is replaced atomically: one script DELETEs it and INSERTs the aggregate in a
transaction. The emulator does not pass query parameters into scripts, so the month is
declared from a validated date; single statements use parameters.
"""

from __future__ import annotations

from google.api_core.exceptions import NotFound
from google.api_core.retry import Retry
from google.cloud import bigquery

from taxi_platform.analytics.spec import (
    COLUMN_NAMES,
    MART,
    REVENUE_DATASETS,
    MonthSummary,
    bigquery_columns,
)
from taxi_platform.datasets import TaxiDataset
from taxi_platform.identifiers import gcp_project, sql_name
from taxi_platform.months import month_start
from taxi_platform.paths import table_name
from taxi_platform.pipeline.zones import ZONE_TABLE

JOB_TIMEOUT_S = 900
API_RETRY = Retry(deadline=120)


class MissingInputError(RuntimeError):
    """An input table of the mart does not exist yet."""


def table_id(client: bigquery.Client, dataset_id: str, table: str) -> str:
    project = gcp_project(client.project)
    return f"{project}.{sql_name(dataset_id, 'BigQuery dataset')}.{sql_name(table, 'table')}"


def ensure_mart_table(client: bigquery.Client, dataset_id: str) -> str:
    """Create the month-partitioned mart table if missing; return its id."""
    client.create_dataset(dataset_id, exists_ok=True, retry=API_RETRY)
    table = bigquery.Table(
        table_id(client, dataset_id, MART),
        [bigquery.SchemaField(n, t, description=d) for n, t, d in bigquery_columns()],
    )
    table.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.MONTH, field="source_month"
    )
    table.description = "Trips and revenue per day, service type and pickup zone."
    client.create_table(table, exists_ok=True, retry=API_RETRY)
    return table.table_id


def _exists(client: bigquery.Client, table: str) -> bool:
    try:
        client.get_table(table, retry=API_RETRY)
    except NotFound:
        return False
    return True


def trip_sources(client: bigquery.Client, dataset_id: str) -> list[TaxiDataset]:
    """The revenue datasets whose trips table exists; the zone table must exist too."""
    zones = table_id(client, dataset_id, ZONE_TABLE)
    if not _exists(client, zones):
        raise MissingInputError(f"{zones} does not exist: materialize the zone lookup first")
    found = [
        ds
        for ds in REVENUE_DATASETS
        if _exists(client, table_id(client, dataset_id, table_name(ds)))
    ]
    if not found:
        names = ", ".join(table_name(ds) for ds in REVENUE_DATASETS)
        raise MissingInputError(f"none of {names} exists in {dataset_id}: load trips first")
    return found


def month_script(
    client: bigquery.Client, dataset_id: str, month: str, sources: list[TaxiDataset]
) -> str:
    """The DELETE + INSERT transaction that rebuilds `month` from the trip and zone tables."""
    trips = "\n      UNION ALL\n".join(
        f"      SELECT '{ds.name}' AS service_type, {ds.pickup_col} AS pickup_ts,"
        " pu_location_id, passenger_count, trip_distance, fare_amount, tip_amount,"
        f" total_amount\n      FROM `{table_id(client, dataset_id, table_name(ds))}`"
        " WHERE source_month = m"
        for ds in sources
    )
    target = f"`{table_id(client, dataset_id, MART)}`"
    zones = f"`{table_id(client, dataset_id, ZONE_TABLE)}`"
    return f"""
DECLARE m DATE DEFAULT DATE '{month_start(month).isoformat()}';
BEGIN TRANSACTION;
DELETE FROM {target} WHERE source_month = m;
INSERT INTO {target} ({", ".join(COLUMN_NAMES)})
  SELECT
    m,
    DATE(t.pickup_ts),
    t.service_type,
    t.pu_location_id,
    z.borough,
    z.zone,
    z.service_zone,
    COUNT(*),
    SUM(t.passenger_count),
    ROUND(SUM(t.trip_distance), 2),
    ROUND(SUM(t.fare_amount), 2),
    ROUND(SUM(t.tip_amount), 2),
    ROUND(SUM(t.total_amount), 2)
  FROM (
{trips}
  ) AS t
  LEFT JOIN {zones} AS z ON z.location_id = t.pu_location_id
  WHERE t.pickup_ts >= TIMESTAMP(m) AND t.pickup_ts < TIMESTAMP(DATE_ADD(m, INTERVAL 1 MONTH))
  GROUP BY 1, 2, 3, 4, 5, 6, 7;
COMMIT TRANSACTION;
"""


def month_summary(client: bigquery.Client, dataset_id: str, month: str) -> MonthSummary:
    sql = (
        "SELECT service_type, COUNT(*) AS row_count, SUM(trips) AS trips,"
        " SUM(total_amount) AS revenue"
        f" FROM `{table_id(client, dataset_id, MART)}` WHERE source_month = @month"
        " GROUP BY service_type"
    )
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("month", "DATE", month_start(month))]
    )
    job = client.query(sql, job_config=config, retry=API_RETRY, job_retry=None)
    result = list(job.result(timeout=JOB_TIMEOUT_S))
    return MonthSummary(
        rows={r.service_type: r.row_count for r in result},
        trips={r.service_type: r.trips for r in result},
        revenue={r.service_type: r.revenue or 0.0 for r in result},
    )


def replace_month(
    client: bigquery.Client, dataset_id: str, month: str
) -> tuple[MonthSummary, list[TaxiDataset]]:
    """Rebuild `month` of the mart; return its summary and the datasets it was built from."""
    sources = trip_sources(client, dataset_id)
    ensure_mart_table(client, dataset_id)
    script = month_script(client, dataset_id, month, sources)
    client.query(script, retry=API_RETRY, job_retry=None).result(timeout=JOB_TIMEOUT_S)
    return month_summary(client, dataset_id, month), sources
