"""Build one dataset's monthly asset chain: raw CSV.gz -> lake parquet -> GCS -> BigQuery,
and lake parquet -> PostgreSQL.

Every asset handles a range of months (a backfill batches `MONTHS_PER_RUN` months per run to
keep Dagster's per-run overhead small); each month is still replaced on its own, so a run
over several months is as idempotent as one per month. A single-month run reports that
month's numbers; a multi-month run reports totals plus a per-month table.
"""

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg

from taxi_platform import paths
from taxi_platform.datasets import TaxiDataset
from taxi_platform.pipeline import bigquery_load, postgres_load
from taxi_platform.pipeline.checks import (
    ROWS_MATCH_LAKE,
    lake_check_results,
    lake_check_specs,
    measure_lake_month,
    rows_match_lake,
)
from taxi_platform.pipeline.download import DownloadError, NotPublishedError, RemoteFile
from taxi_platform.pipeline.files import atomic_write_text
from taxi_platform.pipeline.gcs_upload import upload_if_changed
from taxi_platform.pipeline.metadata import (
    parquet_preview,
    parquet_rows,
    range_metadata,
    rejection_sample,
    table_schema,
)
from taxi_platform.pipeline.transform import SourceFileError, csv_to_parquet
from taxi_platform.resources.gcp import LakeBucketResource, WarehouseResource
from taxi_platform.resources.lake import LakeResource
from taxi_platform.resources.postgres import PostgresResource
from taxi_platform.resources.tlc import TlcSource

WAREHOUSE_KEY_PREFIX = "taxi"
MONTHS_PER_RUN = 3
SINK_RETRY = dg.RetryPolicy(
    max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
DEFAULT_MAX_OUT_OF_MONTH_SHARE = 0.05


def asset_keys(ds: TaxiDataset) -> dict[str, dg.AssetKey]:
    """The asset key of each layer: keys name the storage location."""
    return {
        "raw": dg.AssetKey(["raw", ds.name, "trips_csv"]),
        "lake": dg.AssetKey(["clean", ds.name, "trips_parquet"]),
        "gcs": dg.AssetKey(["gcs", ds.name, "trips"]),
        "bigquery": dg.AssetKey(["bigquery", WAREHOUSE_KEY_PREFIX, paths.table_name(ds)]),
        "postgres": dg.AssetKey(["postgres", WAREHOUSE_KEY_PREFIX, paths.table_name(ds)]),
    }


def follow_upstream() -> dg.AutomationCondition:
    """Materialize a month when its upstream month updated (any month, not just the newest)."""
    return (
        dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("follow_upstream")


class LakeQualityConfig(dg.Config):
    """Run config of the lake asset."""

    max_out_of_month_share: float = DEFAULT_MAX_OUT_OF_MONTH_SHARE


def _sidecar(raw: Path) -> Path:
    return raw.with_name(raw.name + ".source.json")


def _landed_remote(raw: Path) -> RemoteFile | None:
    sidecar = _sidecar(raw)
    if not raw.exists() or not sidecar.exists():
        return None
    try:
        landed = RemoteFile(**json.loads(sidecar.read_text()))
    except (json.JSONDecodeError, TypeError):
        return None
    return landed if landed.size == raw.stat().st_size else None


def _each_month(
    context: dg.AssetExecutionContext, ds: TaxiDataset, work: Callable[[str], dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Run `work` for each month of the run; bad input fails naming dataset and month."""
    per_month = {}
    for month in context.partition_keys:
        started = time.monotonic()
        try:
            metadata = work(month)
        except (NotPublishedError, DownloadError, SourceFileError, FileNotFoundError) as err:
            raise dg.Failure(description=f"{ds.name} {month}: {err}", allow_retries=False) from err
        per_month[month] = {**metadata, "seconds": round(time.monotonic() - started, 3)}
    return per_month


def _warehouse_result(
    key: dg.AssetKey,
    ds: TaxiDataset,
    table: str,
    per_month: dict[str, dict[str, Any]],
    loaded: dict[str, int],
    expected: dict[str, int],
) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={
            **range_metadata(per_month),
            "dagster/column_schema": table_schema(ds),
            "table": table,
        },
        check_results=[rows_match_lake(key, loaded, expected)],
    )


def build_trip_assets(
    ds: TaxiDataset, partitions: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition]:
    """The five monthly assets of one dataset, all in group `ds.name`."""
    keys = asset_keys(ds)
    common: dict[str, Any] = {
        "partitions_def": partitions,
        "group_name": ds.name,
        "owners": ["team:data-eng"],
        "tags": {"dataset": ds.name},
        "backfill_policy": dg.BackfillPolicy.multi_run(max_partitions_per_run=MONTHS_PER_RUN),
    }
    downstream = {**common, "automation_condition": follow_upstream()}
    sink = {**downstream, "retry_policy": SINK_RETRY}

    @dg.asset(
        key=keys["raw"],
        kinds={"csv"},
        description=f"{ds.description} Raw monthly "
        "CSV.gz from the TLC mirror, landed in the lake; skipped when unchanged.",
        **common,
    )
    def raw_trips(context: dg.AssetExecutionContext, tlc: TlcSource, lake: LakeResource):
        def land(month: str) -> dict[str, Any]:
            url = paths.source_url(tlc.base_url, ds, month)
            dst = paths.raw_path(lake.path, ds, month)
            remote = tlc.probe(url, context.log)
            landed = _landed_remote(dst)
            skipped = landed is not None and landed.same_as(remote)
            if not skipped:
                remote = tlc.download(url, dst, context.log)
                atomic_write_text(_sidecar(dst), json.dumps(remote.__dict__))
            return {
                "url": dg.MetadataValue.url(url),
                "path": dg.MetadataValue.path(str(dst)),
                "bytes": dst.stat().st_size,
                "etag": remote.etag or "",
                "skipped_unchanged": skipped,
            }

        return dg.MaterializeResult(metadata=range_metadata(_each_month(context, ds, land)))

    @dg.asset(
        key=keys["lake"],
        deps=[keys["raw"]],
        kinds={"parquet", "pyarrow"},
        check_specs=lake_check_specs(ds, keys["lake"]),
        description=f"{ds.description} Typed, cleaned zstd parquet in the lake.",
        **downstream,
    )
    def lake_trips(
        context: dg.AssetExecutionContext, config: LakeQualityConfig, lake: LakeResource
    ):
        reports, quality = {}, {}

        def clean(month: str) -> dict[str, Any]:
            dst = paths.clean_path(lake.path, ds, month)
            report = reports[month] = csv_to_parquet(
                paths.raw_path(lake.path, ds, month), dst, ds, month
            )
            quality[month] = measure_lake_month(dst, ds, month)
            return {
                "dagster/row_count": report.rows_written,
                "rows_read": report.rows_read,
                "rejected_rows": report.rejected,
                "out_of_month_rows": report.out_of_month,
                "bytes": dst.stat().st_size,
                "path": dg.MetadataValue.path(str(dst)),
                "preview": parquet_preview(dst),
                "rejected_sample": rejection_sample(report.examples),
                "recoded_cells": report.recoded_cells,
                "recoded_sample": rejection_sample(report.recoded_examples),
                "unknown_columns": ", ".join(report.unknown_columns),
                "missing_optional_columns": ", ".join(report.missing_optional_columns),
            }

        per_month = _each_month(context, ds, clean)
        return dg.MaterializeResult(
            metadata={**range_metadata(per_month), "dagster/column_schema": table_schema(ds)},
            check_results=lake_check_results(
                quality, reports, keys["lake"], config.max_out_of_month_share
            ),
        )

    @dg.asset(
        key=keys["gcs"],
        deps=[keys["lake"]],
        kinds={"gcs"},
        description=f"{ds.description} The lake parquet in the GCS bucket.",
        **sink,
    )
    def gcs_trips(context: dg.AssetExecutionContext, lake: LakeResource, gcs: LakeBucketResource):
        client = gcs.get_client()

        def upload(month: str) -> dict[str, Any]:
            src = paths.clean_path(lake.path, ds, month)
            result = upload_if_changed(client, gcs.bucket, paths.gcs_key(ds, month), src)
            return {
                "uri": result.uri,
                "bytes": result.size,
                "md5": result.md5,
                "uploaded": result.uploaded,
            }

        return dg.MaterializeResult(metadata=range_metadata(_each_month(context, ds, upload)))

    @dg.asset(
        key=keys["bigquery"],
        deps=[keys["gcs"]],
        kinds={"bigquery"},
        check_specs=[dg.AssetCheckSpec(ROWS_MATCH_LAKE, asset=keys["bigquery"], blocking=True)],
        description=f"{ds.description} BigQuery table, month-partitioned on "
        "source_month; a month is replaced atomically.",
        **sink,
    )
    def bigquery_trips(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        gcs: LakeBucketResource,
        bigquery: WarehouseResource,
    ):
        loaded, expected = {}, {}
        with bigquery.get_client() as client:

            def load(month: str) -> dict[str, Any]:
                expected[month] = parquet_rows(paths.clean_path(lake.path, ds, month))
                loaded[month] = bigquery_load.replace_month(
                    client, bigquery.dataset_id, ds, month, paths.gcs_uri(gcs.bucket, ds, month)
                )
                return {"dagster/row_count": loaded[month]}

            per_month = _each_month(context, ds, load)
        table = f"{bigquery.dataset_id}.{paths.table_name(ds)}"
        return _warehouse_result(keys["bigquery"], ds, table, per_month, loaded, expected)

    @dg.asset(
        key=keys["postgres"],
        deps=[keys["lake"]],
        kinds={"postgres"},
        check_specs=[dg.AssetCheckSpec(ROWS_MATCH_LAKE, asset=keys["postgres"], blocking=True)],
        description=f"{ds.description} PostgreSQL table; a month is replaced in one "
        "transaction (DELETE + COPY).",
        **sink,
    )
    def postgres_trips(
        context: dg.AssetExecutionContext, lake: LakeResource, postgres: PostgresResource
    ):
        loaded, expected = {}, {}
        with postgres.connect() as conn:

            def load(month: str) -> dict[str, Any]:
                src = paths.clean_path(lake.path, ds, month)
                expected[month] = parquet_rows(src)
                loaded[month] = postgres_load.replace_month(conn, postgres.schema, ds, month, src)
                return {"dagster/row_count": loaded[month]}

            per_month = _each_month(context, ds, load)
        table = f"{postgres.schema}.{paths.table_name(ds)}"
        return _warehouse_result(keys["postgres"], ds, table, per_month, loaded, expected)

    return [raw_trips, lake_trips, gcs_trips, bigquery_trips, postgres_trips]
