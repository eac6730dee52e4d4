"""The taxi zone lookup: one unpartitioned CSV shared by every dataset, landed in the lake and
copied as a table into BigQuery and PostgreSQL, where the analytics layer joins it."""

import time
from pathlib import Path

import dagster as dg
import psycopg
import pyarrow.csv as pacsv
from google.api_core.retry import Retry
from google.cloud import bigquery as bq
from psycopg import sql

from taxi_platform import paths
from taxi_platform.datasets import BIGQUERY_TYPES, POSTGRES_TYPES, ZONE_COLUMNS
from taxi_platform.identifiers import gcp_project, sql_name
from taxi_platform.pipeline.download import DownloadError, NotPublishedError
from taxi_platform.pipeline.factory import WAREHOUSE_KEY_PREFIX
from taxi_platform.resources.gcp import WarehouseResource
from taxi_platform.resources.lake import LakeResource
from taxi_platform.resources.postgres import PostgresResource
from taxi_platform.resources.tlc import TlcSource

ZONE_TABLE = "taxi_zone_lookup"
ZONE_GROUP = "zones"
ZONE_LOOKUP_KEY = dg.AssetKey(["raw", "misc", "taxi_zone_lookup"])
BIGQUERY_ZONES_KEY = dg.AssetKey(["bigquery", WAREHOUSE_KEY_PREFIX, ZONE_TABLE])
POSTGRES_ZONES_KEY = dg.AssetKey(["postgres", WAREHOUSE_KEY_PREFIX, ZONE_TABLE])
JOB_TIMEOUT_S = 300
API_RETRY = Retry(deadline=120)
_COMMON = {"group_name": ZONE_GROUP, "owners": ["team:data-eng"], "tags": {"dataset": "zones"}}


def zone_schema(source_names: bool = False) -> dg.TableSchema:
    """The zone table's columns: as landed (snake_case), or as in the TLC CSV header."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(c.source if source_names else c.name, BIGQUERY_TYPES[c.kind])
            for c in ZONE_COLUMNS
        ]
    )


def zone_lineage() -> dg.TableColumnLineage:
    """Each warehouse column comes from one column of the lake CSV."""
    return dg.TableColumnLineage(
        deps_by_column={
            c.name: [dg.TableColumnDep(asset_key=ZONE_LOOKUP_KEY, column_name=c.source)]
            for c in ZONE_COLUMNS
        }
    )


def _table_metadata(table: str, rows: int, started: float) -> dict[str, object]:
    return {
        "dagster/table_name": table,
        "dagster/row_count": rows,
        "dagster/column_schema": zone_schema(),
        "dagster/column_lineage": zone_lineage(),
        "seconds": round(time.monotonic() - started, 3),
    }


@dg.asset(
    key=ZONE_LOOKUP_KEY,
    kinds={"csv"},
    metadata={"dagster/column_schema": zone_schema(source_names=True)},
    **_COMMON,
)
def taxi_zone_lookup(context: dg.AssetExecutionContext, tlc: TlcSource, lake: LakeResource):
    """TLC taxi zones (LocationID, Borough, Zone, service_zone), landed in the lake."""
    url = paths.zone_lookup_url(tlc.base_url)
    dst = paths.zone_lookup_path(lake.path)
    try:
        tlc.download(url, dst, context.log, gzip_expected=False)
    except (NotPublishedError, DownloadError) as err:
        raise dg.Failure(description=str(err), allow_retries=False) from err
    table = pacsv.read_csv(dst)
    expected = [c.source for c in ZONE_COLUMNS]
    if table.column_names != expected:
        raise dg.Failure(
            description=f"{dst.name}: header {table.column_names} is not {expected}",
            allow_retries=False,
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.num_rows,
            "dagster/column_schema": zone_schema(source_names=True),
            "bytes": dst.stat().st_size,
            "path": dg.MetadataValue.path(str(dst)),
        }
    )


def _zone_csv(lake: LakeResource) -> Path:
    src = paths.zone_lookup_path(lake.path)
    if not src.exists():
        raise dg.Failure(
            description=f"{src} is missing: materialize {ZONE_LOOKUP_KEY.to_user_string()} first",
            allow_retries=False,
        )
    return src


def load_zones_bigquery(client: bq.Client, dataset_id: str, src: Path) -> str:
    """Replace the BigQuery zone table with the lake CSV (one load job, WRITE_TRUNCATE)."""
    client.create_dataset(dataset_id, exists_ok=True, retry=API_RETRY)
    table_id = f"{gcp_project(client.project)}.{sql_name(dataset_id, 'BigQuery dataset')}"
    table_id += f".{ZONE_TABLE}"
    config = bq.LoadJobConfig(
        source_format=bq.SourceFormat.CSV,
        skip_leading_rows=1,
        schema=[bq.SchemaField(c.name, BIGQUERY_TYPES[c.kind]) for c in ZONE_COLUMNS],
        write_disposition=bq.WriteDisposition.WRITE_TRUNCATE,
    )
    with src.open("rb") as data:
        job = client.load_table_from_file(data, table_id, job_config=config, timeout=60)
    job.result(timeout=JOB_TIMEOUT_S)
    return table_id


def bigquery_zone_rows(client: bq.Client, table_id: str) -> int:
    job = client.query(f"SELECT COUNT(*) AS n FROM `{table_id}`", retry=API_RETRY, job_retry=None)
    return next(iter(job.result(timeout=JOB_TIMEOUT_S))).n


def load_zones_postgres(conn: psycopg.Connection, schema: str, src: Path) -> int:
    """Replace the PostgreSQL zone table with the lake CSV in one transaction; return its rows."""
    table = sql.Identifier(sql_name(schema, "PostgreSQL schema"), ZONE_TABLE)
    columns = [sql.Identifier(c.name) for c in ZONE_COLUMNS]
    definition = sql.SQL(", ").join(
        sql.SQL("{} {}").format(col, sql.SQL(POSTGRES_TYPES[c.kind]))
        for col, c in zip(columns, ZONE_COLUMNS, strict=True)
    )
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('taxi_platform.ddl'))")
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))").format(
                table, definition, columns[0]
            )
        )
    copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, HEADER true)").format(
        table, sql.SQL(", ").join(columns)
    )
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(sql.SQL("DELETE FROM {}").format(table))
        with cursor.copy(copy) as writer, src.open("rb") as data:
            while chunk := data.read(1 << 16):
                writer.write(chunk)
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0]


@dg.asset(
    key=BIGQUERY_ZONES_KEY,
    deps=[ZONE_LOOKUP_KEY],
    kinds={"bigquery"},
    metadata={"dagster/column_schema": zone_schema()},
    **_COMMON,
)
def bigquery_zone_lookup(lake: LakeResource, bigquery: WarehouseResource):
    """TLC taxi zones as a BigQuery table, replaced whole by one load job."""
    started = time.monotonic()
    with bigquery.get_client() as client:
        table_id = load_zones_bigquery(client, bigquery.dataset_id, _zone_csv(lake))
        rows = bigquery_zone_rows(client, table_id)
    return dg.MaterializeResult(metadata=_table_metadata(table_id, rows, started))


@dg.asset(
    key=POSTGRES_ZONES_KEY,
    deps=[ZONE_LOOKUP_KEY],
    kinds={"postgres"},
    metadata={"dagster/column_schema": zone_schema()},
    **_COMMON,
)
def postgres_zone_lookup(lake: LakeResource, postgres: PostgresResource):
    """TLC taxi zones as a PostgreSQL table, replaced in one transaction (DELETE + COPY)."""
    started = time.monotonic()
    with postgres.connect() as conn:
        rows = load_zones_postgres(conn, postgres.schema, _zone_csv(lake))
    table = f"{postgres.schema}.{ZONE_TABLE}"
    return dg.MaterializeResult(metadata=_table_metadata(table, rows, started))


ZONE_ASSETS: list[dg.AssetsDefinition] = [
    taxi_zone_lookup,
    bigquery_zone_lookup,
    postgres_zone_lookup,
]
