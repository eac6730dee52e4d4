"""Build one dataset's monthly asset chain: raw CSV.gz -> lake parquet -> GCS -> BigQuery,
and lake parquet -> PostgreSQL."""

import json
import time
from pathlib import Path

import dagster as dg

from taxi_platform import paths
from taxi_platform.datasets import TaxiDataset
from taxi_platform.pipeline import bigquery_load, postgres_load
from taxi_platform.pipeline.download import DownloadError, NotPublishedError, RemoteFile
from taxi_platform.pipeline.gcs_upload import upload_if_changed
from taxi_platform.pipeline.metadata import (
    parquet_preview,
    parquet_rows,
    rejection_sample,
    table_schema,
)
from taxi_platform.pipeline.transform import SourceFileError, csv_to_parquet
from taxi_platform.resources.gcp import LakeBucketResource, WarehouseResource
from taxi_platform.resources.lake import LakeResource
from taxi_platform.resources.postgres import PostgresResource
from taxi_platform.resources.tlc import TlcSource

WAREHOUSE_KEY_PREFIX = "taxi"
SINK_RETRY = dg.RetryPolicy(
    max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
ROWS_MATCH = "rows_match_lake"


def asset_keys(ds: TaxiDataset) -> dict[str, dg.AssetKey]:
    """The asset key of each layer: keys name the storage location."""
    return {
        "raw": dg.AssetKey(["raw", ds.name, "trips_csv"]),
        "lake": dg.AssetKey(["clean", ds.name, "trips_parquet"]),
        "gcs": dg.AssetKey(["gcs", ds.name, "trips"]),
        "bigquery": dg.AssetKey(["bigquery", WAREHOUSE_KEY_PREFIX, paths.table_name(ds)]),
        "postgres": dg.AssetKey(["postgres", WAREHOUSE_KEY_PREFIX, paths.table_name(ds)]),
    }


def _sidecar(raw: Path) -> Path:
    return raw.with_name(raw.name + ".source.json")


def _landed_remote(raw: Path) -> RemoteFile | None:
    sidecar = _sidecar(raw)
    if not raw.exists() or not sidecar.exists():
        return None
    landed = RemoteFile(**json.loads(sidecar.read_text()))
    return landed if landed.size == raw.stat().st_size else None


def _bad_input(err: Exception) -> dg.Failure:
    return dg.Failure(description=str(err), allow_retries=False)


def _rows_match(key: dg.AssetKey, loaded: int, expected: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=ROWS_MATCH,
        asset_key=key,
        passed=loaded == expected,
        metadata={"sink_rows": loaded, "lake_rows": expected},
    )


def build_trip_assets(
    ds: TaxiDataset, partitions: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition]:
    """The five monthly assets of one dataset, all in group `ds.name`."""
    keys = asset_keys(ds)
    common = {"partitions_def": partitions, "group_name": ds.name, "owners": ["team:data-eng"]}

    @dg.asset(
        key=keys["raw"],
        kinds={"csv"},
        description=f"{ds.description} Raw monthly CSV.gz "
        "from the TLC mirror, landed in the lake; skipped when unchanged.",
        **common,
    )
    def raw_trips(context: dg.AssetExecutionContext, tlc: TlcSource, lake: LakeResource):
        month = context.partition_key
        url = paths.source_url(tlc.base_url, ds, month)
        dst = paths.raw_path(lake.path, ds, month)
        try:
            remote = tlc.probe(url)
            landed = _landed_remote(dst)
            skipped = landed is not None and landed.same_as(remote)
            if not skipped:
                remote = tlc.download(url, dst, context.log)
                _sidecar(dst).write_text(json.dumps(remote.__dict__))
        except (NotPublishedError, DownloadError) as err:
            raise _bad_input(err) from err
        return dg.MaterializeResult(
            metadata={
                "url": dg.MetadataValue.url(url),
                "path": dg.MetadataValue.path(str(dst)),
                "bytes": dst.stat().st_size,
                "etag": remote.etag or "",
                "skipped_unchanged": skipped,
            }
        )

    @dg.asset(
        key=keys["lake"],
        deps=[keys["raw"]],
        kinds={"parquet", "pyarrow"},
        description=f"{ds.description} Typed, cleaned zstd parquet in the lake.",
        **common,
    )
    def lake_trips(context: dg.AssetExecutionContext, lake: LakeResource):
        month = context.partition_key
        src, dst = paths.raw_path(lake.path, ds, month), paths.clean_path(lake.path, ds, month)
        started = time.monotonic()
        try:
            report = csv_to_parquet(src, dst, ds, month)
        except (SourceFileError, FileNotFoundError) as err:
            raise _bad_input(err) from err
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": report.rows_written,
                "dagster/column_schema": table_schema(ds),
                "rows_read": report.rows_read,
                "rejected_rows": report.rejected,
                "out_of_month_rows": report.out_of_month,
                "bytes": dst.stat().st_size,
                "seconds": round(time.monotonic() - started, 3),
                "path": dg.MetadataValue.path(str(dst)),
                "preview": parquet_preview(dst),
                "rejected_sample": rejection_sample(report.examples),
                "unknown_columns": ", ".join(report.unknown_columns),
                "missing_optional_columns": ", ".join(report.missing_optional_columns),
            }
        )

    @dg.asset(
        key=keys["gcs"],
        deps=[keys["lake"]],
        kinds={"gcs"},
        retry_policy=SINK_RETRY,
        description=f"{ds.description} The lake parquet in the GCS bucket.",
        **common,
    )
    def gcs_trips(context: dg.AssetExecutionContext, lake: LakeResource, gcs: LakeBucketResource):
        month = context.partition_key
        src = paths.clean_path(lake.path, ds, month)
        result = upload_if_changed(gcs.get_client(), gcs.bucket, paths.gcs_key(ds, month), src)
        return dg.MaterializeResult(
            metadata={
                "uri": result.uri,
                "bytes": result.size,
                "md5": result.md5,
                "uploaded": result.uploaded,
            }
        )

    @dg.asset(
        key=keys["bigquery"],
        deps=[keys["gcs"]],
        kinds={"bigquery"},
        retry_policy=SINK_RETRY,
        check_specs=[dg.AssetCheckSpec(ROWS_MATCH, asset=keys["bigquery"])],
        description=f"{ds.description} BigQuery table, month-partitioned on source_month; "
        "a month is replaced atomically.",
        **common,
    )
    def bigquery_trips(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        gcs: LakeBucketResource,
        bigquery: WarehouseResource,
    ):
        month = context.partition_key
        expected = parquet_rows(paths.clean_path(lake.path, ds, month))
        started = time.monotonic()
        with bigquery.get_client() as client:
            loaded = bigquery_load.replace_month(
                client, bigquery.dataset_id, ds, month, paths.gcs_uri(gcs.bucket, ds, month)
            )
        return dg.MaterializeResult(
            metadata={
                "table": f"{bigquery.dataset_id}.{paths.table_name(ds)}",
                "dagster/row_count": loaded,
                "dagster/column_schema": table_schema(ds),
                "seconds": round(time.monotonic() - started, 3),
            },
            check_results=[_rows_match(keys["bigquery"], loaded, expected)],
        )

    @dg.asset(
        key=keys["postgres"],
        deps=[keys["lake"]],
        kinds={"postgres"},
        retry_policy=SINK_RETRY,
        check_specs=[dg.AssetCheckSpec(ROWS_MATCH, asset=keys["postgres"])],
        description=f"{ds.description} PostgreSQL table; a month is replaced in one "
        "transaction (DELETE + COPY).",
        **common,
    )
    def postgres_trips(
        context: dg.AssetExecutionContext, lake: LakeResource, postgres: PostgresResource
    ):
        month = context.partition_key
        src = paths.clean_path(lake.path, ds, month)
        started = time.monotonic()
        with postgres.connect() as conn:
            loaded = postgres_load.replace_month(conn, postgres.schema, ds, month, src)
        return dg.MaterializeResult(
            metadata={
                "table": f"{postgres.schema}.{paths.table_name(ds)}",
                "dagster/row_count": loaded,
                "dagster/column_schema": table_schema(ds),
                "seconds": round(time.monotonic() - started, 3),
            },
            check_results=[_rows_match(keys["postgres"], loaded, parquet_rows(src))],
        )

    return [raw_trips, lake_trips, gcs_trips, bigquery_trips, postgres_trips]
