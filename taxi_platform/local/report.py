"""Where a month landed: its row count (or bytes) in every layer."""

from __future__ import annotations

from typing import Any

from taxi_platform import paths
from taxi_platform.datasets import TaxiDataset
from taxi_platform.pipeline import bigquery_load, postgres_load
from taxi_platform.pipeline.metadata import parquet_rows


def layer_counts(resources: dict[str, Any], ds: TaxiDataset, month: str) -> dict[str, int | None]:
    """Rows in the lake, BigQuery and PostgreSQL, and bytes of the GCS object (None: absent)."""
    lake_file = paths.clean_path(resources["lake"].path, ds, month)
    gcs = resources["gcs"]
    blob = gcs.get_client().bucket(gcs.bucket).get_blob(paths.gcs_key(ds, month))
    warehouse = resources["bigquery"]
    with warehouse.get_client() as client:
        bigquery_load.ensure_table(client, warehouse.dataset_id, ds)
        bq_rows = bigquery_load.month_row_count(client, warehouse.dataset_id, ds, month)
    postgres = resources["postgres"]
    with postgres.connect() as conn:
        postgres_load.ensure_table(conn, postgres.schema, ds)
        pg_rows = postgres_load.month_row_count(conn, postgres.schema, ds, month)
    return {
        "lake_rows": parquet_rows(lake_file) if lake_file.exists() else None,
        "gcs_bytes": blob.size if blob is not None else None,
        "bigquery_rows": bq_rows,
        "postgres_rows": pg_rows,
    }
