"""Replace one month of a BigQuery table from a parquet object in GCS, atomically.

The month is loaded server-side into a staging table, then swapped in with one
multi-statement transaction (DELETE the month + INSERT the staging rows), so readers see the
old month or the new one. Partition decorators would be simpler on BigQuery but the emulator
lacks them; this path is correct on both.
"""

from __future__ import annotations

from google.api_core.retry import Retry
from google.cloud import bigquery

from taxi_platform.datasets import BIGQUERY_TYPES, SOURCE_MONTH, TaxiDataset
from taxi_platform.partitions import month_start
from taxi_platform.paths import staging_table_name, table_name

JOB_TIMEOUT_S = 900
API_RETRY = Retry(deadline=120)


def bigquery_schema(ds: TaxiDataset) -> list[bigquery.SchemaField]:
    return [
        bigquery.SchemaField(c.name, BIGQUERY_TYPES[c.kind], description=c.description or None)
        for c in ds.landed_columns
    ]


def ensure_table(client: bigquery.Client, dataset_id: str, ds: TaxiDataset) -> str:
    """Create the dataset and the month-partitioned table if missing; return the table id."""
    client.create_dataset(dataset_id, exists_ok=True, retry=API_RETRY)
    table = bigquery.Table(f"{client.project}.{dataset_id}.{table_name(ds)}", bigquery_schema(ds))
    table.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.MONTH, field=SOURCE_MONTH.name
    )
    table.description = ds.description
    client.create_table(table, exists_ok=True, retry=API_RETRY)
    return table.table_id


def _qualified(client: bigquery.Client, dataset_id: str, table: str) -> str:
    return f"`{client.project}.{dataset_id}.{table}`"


def month_row_count(client: bigquery.Client, dataset_id: str, ds: TaxiDataset, month: str) -> int:
    sql = (
        f"SELECT COUNT(*) AS n FROM {_qualified(client, dataset_id, table_name(ds))}"
        f" WHERE {SOURCE_MONTH.name} = @month"
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
    ensure_table(client, dataset_id, ds)
    stage = staging_table_name(ds, month)
    load_config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        schema=bigquery_schema(ds),
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
    )
    client.load_table_from_uri(
        uri,
        f"{client.project}.{dataset_id}.{stage}",
        job_config=load_config,
        retry=API_RETRY,
    ).result(timeout=JOB_TIMEOUT_S)
    columns = ", ".join(c.name for c in ds.landed_columns)
    target = _qualified(client, dataset_id, table_name(ds))
    script = f"""
        DECLARE m DATE DEFAULT DATE '{month_start(month).isoformat()}';
        BEGIN TRANSACTION;
        DELETE FROM {target} WHERE {SOURCE_MONTH.name} = m;
        INSERT INTO {target} ({columns})
          SELECT {columns} FROM {_qualified(client, dataset_id, stage)};
        COMMIT TRANSACTION;
    """
    try:
        client.query(script, retry=API_RETRY, job_retry=None).result(timeout=JOB_TIMEOUT_S)
    finally:
        client.delete_table(f"{client.project}.{dataset_id}.{stage}", not_found_ok=True)
    return month_row_count(client, dataset_id, ds, month)
