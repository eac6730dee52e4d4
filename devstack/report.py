"""Where a month landed: its row count (or bytes) in every layer."""

from __future__ import annotations

from typing import Any

from taxi_platform import catalog
from taxi_platform.catalog import TaxiDataset
from taxi_platform.lib.quality import parquet_rows
from taxi_platform.lib.warehouse import bigquery, postgres


def layer_counts(resources: dict[str, Any], ds: TaxiDataset, month: str) -> dict[str, int | None]:
    """Rows in the lake, BigQuery and PostgreSQL, and bytes of the GCS object (None: absent)."""
    lake_file = catalog.clean_path(resources["lake"].path, ds, month)
    gcs = resources["gcs"]
    blob = gcs.get_client().bucket(gcs.bucket).get_blob(catalog.gcs_key(ds, month))
    table = catalog.trips_table(ds)
    warehouse = resources["bigquery"]
    with warehouse.get_client() as client:
        bigquery.ensure_trips_table(client, warehouse.dataset_id, ds)
        bq_rows = bigquery.month_row_counts(client, warehouse.dataset_id, table, [month])[month]
    pg = resources["postgres"]
    with pg.connect() as conn:
        postgres.ensure_trips_table(conn, pg.schema, ds)
        pg_rows = postgres.month_row_counts(conn, pg.schema, table, [month])[month]
    return {
        "lake_rows": parquet_rows(lake_file) if lake_file.exists() else None,
        "gcs_bytes": blob.size if blob is not None else None,
        "bigquery_rows": bq_rows,
        "postgres_rows": pg_rows,
    }
