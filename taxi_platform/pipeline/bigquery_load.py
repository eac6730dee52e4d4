"""Replace one month of a BigQuery table from a parquet object in GCS, atomically.

The month is loaded server-side into a staging table, then swapped in with one
multi-statement transaction (DELETE the month + INSERT the staging rows), so readers see the
old month or the new one. Partition decorators would be simpler on BigQuery but the emulator
lacks them; this path is correct on both. A process killed mid-load leaves at most the staging
table (replaced by the next run's WRITE_TRUNCATE load and then dropped); the table itself
keeps its previous month.

Project and dataset names come from configuration: they are validated before any request and
quoted with backticks in SQL. The month is a bound parameter, except inside the swap script,
where the emulator ignores parameters and it is declared from a validated `date`.
"""

from __future__ import annotations

from google.api_core.retry import Retry
from google.cloud import bigquery

from taxi_platform.datasets import BIGQUERY_TYPES, SOURCE_MONTH, TaxiDataset
from taxi_platform.identifiers import gcp_project, sql_name
from taxi_platform.months import month_start
from taxi_platform.paths import staging_table_name, table_name

JOB_TIMEOUT_S = 900
API_RETRY = Retry(deadline=120)


def bigquery_schema(ds: TaxiDataset) -> list[bigquery.SchemaField]:
    return [
        bigquery.SchemaField(c.name, BIGQUERY_TYPES[c.kind], description=c.description or None)
        for c in ds.landed_columns
    ]


def _dataset(client: bigquery.Client, dataset_id: str) -> str:
    """`project.dataset` after validating both names (they come from configuration)."""
    return f"{gcp_project(client.project)}.{sql_name(dataset_id, 'BigQuery dataset')}"


def _quoted(name: str) -> str:
    return f"`{sql_name(name, 'BigQuery column')}`"


def ensure_table(client: bigquery.Client, dataset_id: str, ds: TaxiDataset) -> str:
    """Create the dataset and the month-partitioned table if missing; return the table id."""
    _dataset(client, dataset_id)
    client.create_dataset(dataset_id, exists_ok=True, retry=API_RETRY)
    table = bigquery.Table(f"{client.project}.{dataset_id}.{table_name(ds)}", bigquery_schema(ds))
    table.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.MONTH, field=SOURCE_MONTH.name
    )
    table.description = ds.description
    client.create_table(table, exists_ok=True, retry=API_RETRY)
    return table.table_id


def _qualified(client: bigquery.Client, dataset_id: str, table: str) -> str:
    return f"`{_dataset(client, dataset_id)}.{sql_name(table, 'BigQuery table')}`"


def month_row_count(client: bigquery.Client, dataset_id: str, ds: TaxiDataset, month: str) -> int:
    sql = (
        f"SELECT COUNT(*) AS n FROM {_qualified(client, dataset_id, table_name(ds))}"
        f" WHERE {_quoted(SOURCE_MONTH.name)} = @month"
    )
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("month", "DATE", month_start(month))]
    )
    job = client.query(sql, job_config=config, retry=API_RETRY, job_retry=None)
    return next(iter(job.result(timeout=JOB_TIMEOUT_S))).n


def replace_month(
    client: bigquery.Client, dataset_id: str, ds: TaxiDataset, month: str, uri: str
) -> int:
    """Make the table's `month` exactly the rows of the parquet at `uri`; return its count."""
    first_day = month_start(month)
    dataset = _dataset(client, dataset_id)
    ensure_table(client, dataset_id, ds)
    stage = staging_table_name(ds, month)
    load_config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        schema=bigquery_schema(ds),
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
    )
    client.load_table_from_uri(
        uri,
        f"{dataset}.{stage}",
        job_config=load_config,
        retry=API_RETRY,
    ).result(timeout=JOB_TIMEOUT_S)
    columns = ", ".join(_quoted(c.name) for c in ds.landed_columns)
    target = _qualified(client, dataset_id, table_name(ds))
    script = f"""
        DECLARE m DATE DEFAULT DATE '{first_day.isoformat()}';
        BEGIN TRANSACTION;
        DELETE FROM {target} WHERE {_quoted(SOURCE_MONTH.name)} = m;
        INSERT INTO {target} ({columns})
          SELECT {columns} FROM {_qualified(client, dataset_id, stage)};
        COMMIT TRANSACTION;
    """
    try:
        client.query(script, retry=API_RETRY, job_retry=None).result(timeout=JOB_TIMEOUT_S)
    finally:
        client.delete_table(f"{dataset}.{stage}", not_found_ok=True, retry=API_RETRY)
    return month_row_count(client, dataset_id, ds, month)
