"""One dataset's Definitions: raw CSV.gz -> lake parquet -> GCS -> BigQuery, and lake parquet
-> PostgreSQL, with the dataset's monthly job, schedule and new-month sensor.

Every asset handles a range of months (a backfill batches `MONTHS_PER_RUN` months per run to
keep Dagster's per-run overhead small); each month is still replaced on its own by the
library, so a run over several months is as idempotent as one per month. A single-month run
reports that month's numbers; a multi-month run reports totals plus a per-month table.
Assets orchestrate; `taxi_platform.lib` does the work.
"""

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import dagster as dg
import pyarrow.parquet as pq

from taxi_platform import catalog
from taxi_platform.catalog import FileFormat, Layer, Source, TaxiDataset
from taxi_platform.defs.automation import follow_upstream
from taxi_platform.defs.checks import (
    ROWS_MATCH_LAKE,
    failed_blocking_checks,
    lake_check_results,
    lake_check_specs,
    rows_match_lake,
)
from taxi_platform.defs.metadata import (
    parquet_preview,
    range_metadata,
    rejection_sample,
    table_schema,
)
from taxi_platform.defs.resources import (
    LakeBucketResource,
    LakeResource,
    PostgresResource,
    TlcSource,
    WarehouseResource,
)
from taxi_platform.defs.schedules import build_monthly_schedule
from taxi_platform.defs.sensors import build_new_month_sensor
from taxi_platform.lib.gcs import upload_if_changed
from taxi_platform.lib.lake import CleanReport, SourceFileError, csv_to_parquet
from taxi_platform.lib.lake_parquet import parquet_to_parquet
from taxi_platform.lib.quality import LakeQuality, measure_lake_month, parquet_rows
from taxi_platform.lib.source import (
    DownloadError,
    NotPublishedError,
    Verifier,
    read_record,
    verify_gzip,
    verify_parquet,
    write_record,
)
from taxi_platform.lib.warehouse import bigquery as bigquery_engine
from taxi_platform.lib.warehouse import postgres as postgres_engine
from taxi_platform.settings import Settings

MONTHS_PER_RUN = 3
SINK_RETRY = dg.RetryPolicy(
    max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
DEFAULT_MAX_OUT_OF_MONTH_SHARE = 0.05
T = TypeVar("T")


def trip_asset_key(ds: TaxiDataset, layer: Layer) -> dg.AssetKey:
    return dg.AssetKey(catalog.trip_key(ds, layer))


def trip_asset_keys(ds: TaxiDataset) -> dict[Layer, dg.AssetKey]:
    """The asset key of every layer of a dataset."""
    return {layer: trip_asset_key(ds, layer) for layer in catalog.LAYERS}


class LakeQualityConfig(dg.Config):
    """Run config of the lake asset."""

    max_out_of_month_share: float = DEFAULT_MAX_OUT_OF_MONTH_SHARE


@dataclass(frozen=True)
class MonthRun(Generic[T]):
    """What the work for one month of a run returned, and how long it took."""

    month: str
    value: T
    seconds: float


def each_month(
    context: dg.AssetExecutionContext, ds: TaxiDataset, work: Callable[[str], T]
) -> list[MonthRun[T]]:
    """Run `work` for each month of the run; bad input fails naming dataset and month."""
    runs = []
    for month in context.partition_keys:
        started = time.monotonic()
        try:
            value = work(month)
        except (NotPublishedError, DownloadError, SourceFileError, FileNotFoundError) as err:
            raise dg.Failure(description=f"{ds.name} {month}: {err}", allow_retries=False) from err
        runs.append(MonthRun(month, value, round(time.monotonic() - started, 3)))
    return runs


def per_month_metadata(
    runs: list[MonthRun[T]], metadata: Callable[[T], dict[str, Any]]
) -> dict[str, Any]:
    return range_metadata({r.month: {**metadata(r.value), "seconds": r.seconds} for r in runs})


VERIFIERS: dict[FileFormat, Verifier] = {"csv.gz": verify_gzip, "parquet": verify_parquet}
CLEANERS: dict[FileFormat, Callable[[Path, Path, TaxiDataset, str], CleanReport]] = {
    "csv.gz": csv_to_parquet,
    "parquet": parquet_to_parquet,
}


def _raw_asset(ds: TaxiDataset, source: Source, common: dict[str, Any]) -> dg.AssetsDefinition:
    @dg.asset(
        key=trip_asset_key(ds, "raw"),
        kinds={source.file_format.split(".")[0]},
        description=f"{ds.description} The month's {source.file_format} file from the"
        f" {source.name} source, landed in the lake as published; skipped when unchanged.",
        **common,
    )
    def raw_trips(
        context: dg.AssetExecutionContext, tlc: TlcSource, lake: LakeResource
    ) -> dg.MaterializeResult:
        def land(month: str) -> dict[str, Any]:
            url = source.url(tlc.root(source), ds, month)
            dst = catalog.raw_path(lake.path, source, ds, month)
            landed = read_record(dst)
            remote = tlc.probe(url, context.log)
            fetch = tlc.force_download or landed is None or not landed.same_as(remote)
            if fetch:
                remote = tlc.download(url, dst, context.log, verify=VERIFIERS[source.file_format])
                write_record(dst, remote)
            else:
                remote = landed
            return {
                "url": dg.MetadataValue.url(url),
                "path": dg.MetadataValue.path(str(dst)),
                "bytes": dst.stat().st_size,
                "etag": remote.etag or "",
                "last_modified": remote.last_modified or "",
                "sha256": remote.sha256 or "",
                "unchanged": landed is not None and landed.sha256 == remote.sha256,
                "downloaded": fetch,
            }

        return dg.MaterializeResult(
            metadata=per_month_metadata(each_month(context, ds, land), lambda md: md)
        )

    return raw_trips


@dataclass(frozen=True)
class CleanedMonth:
    """A month written aside for audit (`audit`), to be published at `path` if it passes."""

    report: CleanReport
    quality: LakeQuality
    audit: Path
    path: Path
    metadata: dict[str, Any]


def _cleaned_metadata(report: CleanReport, audit: Path, path: Path) -> dict[str, Any]:
    return {
        "dagster/row_count": report.rows_written,
        "rows_read": report.rows_read,
        "rejected_rows": report.rejected,
        "out_of_month_rows": report.out_of_month,
        "bytes": audit.stat().st_size,
        "path": dg.MetadataValue.path(str(path)),
        "preview": parquet_preview(audit),
        "rejected_sample": rejection_sample(report.examples),
        "recoded_cells": report.recoded_cells,
        "recoded_sample": rejection_sample(report.recoded_examples),
        "unknown_columns": ", ".join(report.unknown_columns),
        "missing_optional_columns": ", ".join(report.missing_optional_columns),
        "schema_era": report.era,
        "schema_fingerprint": report.fingerprint,
    }


def _lake_asset(ds: TaxiDataset, source: Source, downstream: dict[str, Any]) -> dg.AssetsDefinition:
    key = trip_asset_key(ds, "lake")

    @dg.asset(
        key=key,
        deps=[trip_asset_key(ds, "raw")],
        kinds={"parquet", "pyarrow"},
        check_specs=lake_check_specs(ds, key),
        description=f"{ds.description} Typed, cleaned zstd parquet in the lake.",
        **downstream,
    )
    def lake_trips(
        context: dg.AssetExecutionContext, config: LakeQualityConfig, lake: LakeResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        """Write-audit-publish: each month is written aside, audited by the blocking checks and
        published over the lake file only when it passes; a failing month keeps the file
        published before and fails the step, so nothing downstream loads it."""

        def clean(month: str) -> CleanedMonth:
            dst = catalog.clean_path(lake.path, ds, month)
            audit = catalog.audit_path(dst)
            src = catalog.raw_path(lake.path, source, ds, month)
            report = CLEANERS[source.file_format](src, audit, ds, month)
            quality = measure_lake_month(audit, ds, month)
            return CleanedMonth(report, quality, audit, dst, _cleaned_metadata(report, audit, dst))

        runs = each_month(context, ds, clean)
        share = config.max_out_of_month_share
        checks = lake_check_results(
            {r.month: r.value.quality for r in runs},
            {r.month: r.value.report for r in runs},
            key,
            share,
        )
        failed = {}
        for run in runs:
            month = run.value
            failed[run.month] = failed_blocking_checks(month.quality, month.report, share)
            if failed[run.month]:
                month.audit.unlink(missing_ok=True)
            else:
                os.replace(month.audit, month.path)
        if any(failed.values()):
            yield from checks
            reasons = "; ".join(f"{m}: {', '.join(f)}" for m, f in failed.items() if f)
            raise dg.Failure(
                description=f"{ds.name} {reasons}: blocking checks failed; the lake keeps the"
                " file published before, and no sink loads this one",
                allow_retries=False,
            )
        yield dg.MaterializeResult(
            metadata={
                **per_month_metadata(runs, lambda month: month.metadata),
                "dagster/column_schema": table_schema(ds),
            },
            check_results=checks,
        )

    return lake_trips


def _gcs_asset(ds: TaxiDataset, sink: dict[str, Any]) -> dg.AssetsDefinition:
    @dg.asset(
        key=trip_asset_key(ds, "gcs"),
        deps=[trip_asset_key(ds, "lake")],
        kinds={"gcs"},
        description=f"{ds.description} The lake parquet in the GCS bucket.",
        **sink,
    )
    def gcs_trips(
        context: dg.AssetExecutionContext, lake: LakeResource, gcs: LakeBucketResource
    ) -> dg.MaterializeResult:
        client = gcs.get_client()

        def upload(month: str) -> dict[str, Any]:
            src = catalog.clean_path(lake.path, ds, month)
            result = upload_if_changed(client, gcs.bucket, catalog.gcs_key(ds, month), src)
            return {
                "uri": result.uri,
                "bytes": result.size,
                "md5": result.md5,
                "uploaded": result.uploaded,
            }

        return dg.MaterializeResult(
            metadata=per_month_metadata(each_month(context, ds, upload), lambda md: md)
        )

    return gcs_trips


@dataclass(frozen=True)
class LoadedMonth:
    rows: int
    lake_rows: int


def _warehouse_result(
    key: dg.AssetKey, ds: TaxiDataset, table: str, runs: list[MonthRun[LoadedMonth]]
) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={
            **per_month_metadata(runs, lambda loaded: {"dagster/row_count": loaded.rows}),
            "dagster/column_schema": table_schema(ds),
            "table": table,
        },
        check_results=[
            rows_match_lake(
                key,
                {r.month: r.value.rows for r in runs},
                {r.month: r.value.lake_rows for r in runs},
            )
        ],
    )


def _sink_spec(ds: TaxiDataset, layer: Layer, description: str) -> dict[str, Any]:
    key = trip_asset_key(ds, layer)
    return {
        "key": key,
        "kinds": {layer},
        "check_specs": [dg.AssetCheckSpec(ROWS_MATCH_LAKE, asset=key, blocking=True)],
        "description": f"{ds.description} {description}",
    }


def _bigquery_asset(ds: TaxiDataset, sink: dict[str, Any]) -> dg.AssetsDefinition:
    spec = _sink_spec(
        ds,
        "bigquery",
        "BigQuery table, month-partitioned on source_month; a month is replaced atomically.",
    )

    @dg.asset(deps=[trip_asset_key(ds, "gcs")], **spec, **sink)
    def bigquery_trips(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        gcs: LakeBucketResource,
        bigquery: WarehouseResource,
    ) -> dg.MaterializeResult:
        with bigquery.get_client() as client:

            def load(month: str) -> LoadedMonth:
                src = catalog.clean_path(lake.path, ds, month)
                uri = catalog.gcs_uri(gcs.bucket, ds, month)
                rows = bigquery_engine.replace_month(
                    client, bigquery.dataset_id, ds, month, uri, pq.read_schema(src)
                )
                return LoadedMonth(rows, parquet_rows(src))

            runs = each_month(context, ds, load)
        table = f"{bigquery.dataset_id}.{catalog.trips_table(ds)}"
        return _warehouse_result(spec["key"], ds, table, runs)

    return bigquery_trips


def _postgres_asset(ds: TaxiDataset, sink: dict[str, Any]) -> dg.AssetsDefinition:
    spec = _sink_spec(
        ds, "postgres", "PostgreSQL table; a month is replaced in one transaction (DELETE + COPY)."
    )

    @dg.asset(deps=[trip_asset_key(ds, "lake")], **spec, **sink)
    def postgres_trips(
        context: dg.AssetExecutionContext, lake: LakeResource, postgres: PostgresResource
    ) -> dg.MaterializeResult:
        with postgres.connect() as conn:

            def load(month: str) -> LoadedMonth:
                src = catalog.clean_path(lake.path, ds, month)
                rows = postgres_engine.replace_month(conn, postgres.schema, ds, month, src)
                return LoadedMonth(rows, parquet_rows(src))

            runs = each_month(context, ds, load)
        table = f"{postgres.schema}.{catalog.trips_table(ds)}"
        return _warehouse_result(spec["key"], ds, table, runs)

    return postgres_trips


def build_trip_assets(
    ds: TaxiDataset, partitions: dg.PartitionsDefinition, source: Source
) -> list[dg.AssetsDefinition]:
    """The five monthly assets of one dataset from `source`, all in group `ds.name`."""
    common: dict[str, Any] = {
        "partitions_def": partitions,
        "group_name": ds.name,
        "owners": ["team:data-eng"],
        "tags": {"dataset": ds.name},
        "backfill_policy": dg.BackfillPolicy.multi_run(max_partitions_per_run=MONTHS_PER_RUN),
    }
    downstream = {**common, "automation_condition": follow_upstream()}
    sink = {**downstream, "retry_policy": SINK_RETRY}
    return [
        _raw_asset(ds, source, common),
        _lake_asset(ds, source, downstream),
        _gcs_asset(ds, sink),
        _bigquery_asset(ds, sink),
        _postgres_asset(ds, sink),
    ]


def build_trip_definitions(
    ds: TaxiDataset, partitions: dg.PartitionsDefinition, source: Source, settings: Settings
) -> dg.Definitions:
    """Everything of one dataset: its assets, its monthly job, schedule and new-month sensor."""
    job = dg.define_asset_job(
        f"{ds.name}_monthly",
        selection=dg.AssetSelection.groups(ds.name),
        description=f"Every layer of {ds.name} for one month.",
    )
    return dg.Definitions(
        assets=build_trip_assets(ds, partitions, source),
        jobs=[job],
        schedules=[build_monthly_schedule(ds, job.name, partitions, settings)],
        sensors=[build_new_month_sensor(ds, source, job.name, partitions, settings)],
    )
