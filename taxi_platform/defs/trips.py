"""One dataset's Definitions: raw file -> lake parquet -> GCS -> BigQuery, and lake parquet
-> PostgreSQL, with the dataset's monthly job, schedule and new-month sensor.

A run lands one month, or a backfill's batch of months. A step that succeeds reports each
month's numbers and checks on its own partition, whoever launched it. A step with a bad month
(bad input, or a failed blocking check) fails in one line naming every bad month, and
materializes none of its months: the lake publishes none, the sinks load none. Assets
orchestrate; `taxi_platform.lib` does the work.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import dagster as dg
from pydantic import Field

from taxi_platform import catalog
from taxi_platform.catalog import FileFormat, Layer, Source, TaxiDataset
from taxi_platform.defs.asset_options import AssetOptions
from taxi_platform.defs.automation import follow_upstream
from taxi_platform.defs.checks import (
    blocking_failures,
    gcs_check_specs,
    lake_check_results,
    lake_check_specs,
    object_matches_lake,
    rows_match_lake,
    sink_check_specs,
)
from taxi_platform.defs.freshness import build_freshness_check
from taxi_platform.defs.metadata import (
    Metadata,
    parquet_preview,
    rejection_sample,
    table_schema,
)
from taxi_platform.defs.month_runs import (
    SINK_RETRY,
    MonthReport,
    MonthRun,
    MonthsResult,
    backfill_policy,
    month_events,
    record_checks,
    report_months,
    run_batch,
    run_months,
)
from taxi_platform.defs.resources import (
    BigQueryDatasetResource,
    LakeBucketResource,
    LakeResource,
    PostgresResource,
    SourceDownloader,
)
from taxi_platform.defs.schedules import build_monthly_schedule
from taxi_platform.defs.sensors import build_new_month_sensor
from taxi_platform.lib.gcs import stored_object, upload_if_changed
from taxi_platform.lib.lake import CleanReport, csv_to_parquet
from taxi_platform.lib.lake_parquet import parquet_to_parquet
from taxi_platform.lib.quality import QualityLimits, clean_and_measure
from taxi_platform.lib.versions import (
    CleanedMonth,
    Fetch,
    Landed,
    MonthVersions,
    TripMonth,
    land_raw,
    publish,
    restore_version,
)
from taxi_platform.lib.warehouse import bigquery as bigquery_engine
from taxi_platform.lib.warehouse import postgres as postgres_engine
from taxi_platform.lib.warehouse.sink import LakeMonth, SyncedMonth, sync_months, trip_sink
from taxi_platform.settings import Settings, load_settings, warehouse_tables

# Bumped when a layer's logic changes what it makes of its input: Dagster then marks the months
# made by the older code unsynced. The lake's is also recorded in each month's manifest.
CODE_VERSIONS: dict[Layer, str] = {
    "raw": "1",
    "lake": "2",  # 2: wall-clock timestamps
    "gcs": "1",
    "bigquery": "2",  # 2: DATETIME, month_versions
    "postgres": "2",  # 2: timestamp without time zone, month_versions
}
DEFAULT_MAX_OUT_OF_MONTH_SHARE = 0.05
# The layer each layer reads.
UPSTREAM: dict[Layer, Layer | None] = {
    "raw": None,
    "lake": "raw",
    "gcs": "lake",
    "bigquery": "gcs",
    "postgres": "lake",
}
SINKS: tuple[Layer, ...] = ("gcs", "bigquery", "postgres")


def trip_asset_key(ds: TaxiDataset, layer: Layer) -> dg.AssetKey:
    return dg.AssetKey(catalog.trip_key(ds, layer))


def trip_asset_keys(ds: TaxiDataset) -> dict[Layer, dg.AssetKey]:
    """The asset key of every layer of a dataset."""
    return {layer: trip_asset_key(ds, layer) for layer in catalog.LAYERS}


@dataclass(frozen=True)
class TripAssets:
    """One dataset's monthly assets as the factory builds them: the dataset, its source, its
    warehouse tables, the options every layer shares (`shared`, as the raw layer has them), and
    the rejected share above which a lake month fails (`TAXI_MAX_REJECTED_SHARE`)."""

    ds: TaxiDataset
    source: Source
    tables: catalog.WarehouseTables
    shared: AssetOptions
    max_rejected_share: float

    @property
    def partitions(self) -> dg.PartitionsDefinition:
        assert self.shared.partitions_def is not None
        return self.shared.partitions_def

    def options(self, layer: Layer) -> AssetOptions:
        """A layer's options: below raw it follows its upstream; the sinks retry."""
        options = replace(self.shared, code_version=CODE_VERSIONS[layer])
        if layer != "raw":
            options = replace(options, automation_condition=follow_upstream())
        if layer in SINKS:
            options = replace(options, retry_policy=SINK_RETRY)
        return options

    def asset(
        self,
        layer: Layer,
        kinds: set[str],
        description: str,
        *,
        check_specs: Sequence[dg.AssetCheckSpec] = (),
        metadata: Metadata | None = None,
    ) -> Callable[[Callable[..., object]], dg.AssetsDefinition]:
        """The `dg.asset` decorator of a layer, after the layer it reads."""
        upstream = UPSTREAM[layer]
        return self.options(layer).asset(
            trip_asset_key(self.ds, layer),
            kinds,
            deps=[trip_asset_key(self.ds, upstream)] if upstream else [],
            description=f"{self.ds.description} {description}",
            check_specs=check_specs,
            metadata=metadata,
        )


class LakeQualityConfig(dg.Config):
    """Run config of the lake asset."""

    max_out_of_month_share: float = DEFAULT_MAX_OUT_OF_MONTH_SHARE
    max_rejected_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="The most of a month's rows that may be rejected; unset:"
        " TAXI_MAX_REJECTED_SHARE (default 0.01).",
    )

    def limits(self, default_rejected_share: float) -> QualityLimits:
        """This run's limits; the rejected share defaults to the setting's."""
        rejected = self.max_rejected_share
        return QualityLimits(
            self.max_out_of_month_share,
            default_rejected_share if rejected is None else rejected,
        )


CLEANERS: dict[FileFormat, Callable[[Path, Path, TaxiDataset, str], CleanReport]] = {
    "csv.gz": csv_to_parquet,
    "parquet": parquet_to_parquet,
}


class RawConfig(dg.Config):
    """Run config of the raw asset: set `restore_version` to roll a month back."""

    restore_version: str = Field(
        default="",
        description="A kept version of the month (16 hex digits, from its manifest) to put back"
        " instead of fetching; the layers below then reload it.",
    )


def _raw_asset(assets: TripAssets) -> dg.AssetsDefinition:
    ds, source = assets.ds, assets.source

    @assets.asset(
        "raw",
        {source.file_format},  # "parquet" or "csv.gz": a bare "csv" kind has no label
        f"The month's {source.file_format} file from the {source.name} source, landed in the"
        " lake as published; skipped when unchanged. Its data version is the sha256 of the"
        " bytes; every version is kept (see the manifest).",
    )
    def raw_trips(
        context: dg.AssetExecutionContext,
        config: RawConfig,
        downloader: SourceDownloader,
        lake: LakeResource,
    ) -> dg.MaterializeResult:
        def land(month: str) -> Landed:
            at = TripMonth(ds, source, month, lake.path)
            if config.restore_version:
                return restore_version(at, config.restore_version)
            fetch = Fetch(
                downloader,
                source.url(downloader.root(source), ds, month),
                downloader.force_download,
            )
            return land_raw(at, fetch, lake.versions_kept, context.log)

        def report(run: MonthRun[Landed]) -> MonthReport:
            landed, month = run.value, run.month
            version = landed.version
            url = {"url": dg.MetadataValue.url(landed.url)} if landed.url else {}
            provenance = {
                "version": version.version,
                "sha256": version.sha256,
                "bytes": version.bytes,
                "fetched_at": version.fetched_at,
                "path": dg.MetadataValue.path(str(catalog.raw_path(lake.path, source, ds, month))),
                "manifest": dg.MetadataValue.path(str(catalog.manifest_path(lake.path, ds, month))),
            }
            return MonthReport(
                month,
                {**url, **landed.metadata(), **provenance},
                run.seconds,
                data_version=dg.DataVersion(version.sha256),
            )

        runs = run_months(context, ds.name, land)
        return report_months(context, [report(run) for run in runs])

    return raw_trips


def _cleaned_metadata(report: CleanReport, audit: Path, path: Path) -> Metadata:
    return {
        "month_row_count": report.rows_written,
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


def _lake_asset(assets: TripAssets) -> dg.AssetsDefinition:
    ds, source, key = assets.ds, assets.source, trip_asset_key(assets.ds, "lake")

    @assets.asset(
        "lake",
        {"parquet", "pyarrow"},
        "Typed, cleaned zstd parquet in the lake; each version kept, and what changed from the"
        " version before reported.",
        check_specs=lake_check_specs(ds, key, assets.partitions),
        metadata={"dagster/column_schema": table_schema(ds)},
    )
    def lake_trips(
        context: dg.AssetExecutionContext, config: LakeQualityConfig, lake: LakeResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult | dg.Output]:
        """Write-audit-publish: each month is written aside, audited by the blocking checks and
        published over the lake file only when it passes; a failing month keeps the file
        published before and fails the step, so nothing downstream loads it."""

        def clean(month: str) -> CleanedMonth:
            at = TripMonth(ds, source, month, lake.path)
            cleaner = CLEANERS[source.file_format]
            report, quality = clean_and_measure(cleaner, at.raw, at.audit, ds, month)
            landed = report.rows_written > 0  # else nothing was written: the checks fail it
            metadata = _cleaned_metadata(report, at.audit, at.clean) if landed else {}
            return CleanedMonth(at, report, quality, metadata)

        limits = config.limits(assets.max_rejected_share)
        runs = run_months(context, ds.name, clean)
        audited = [
            MonthReport(
                run.month,
                run.value.metadata,
                run.seconds,
                lake_check_results(run.value.quality, run.value.report, key, limits),
            )
            for run in runs
        ]
        failed = {run.month: blocking_failures(run.value, limits) for run in runs}
        if any(failed.values()):
            for run in runs:
                run.value.audit.unlink(missing_ok=True)
            yield from record_checks(context, audited, failing=True)
            raise dg.Failure(description=_blocked(ds, runs, failed), allow_retries=False)
        published = [
            replace(
                report,
                metadata={
                    **report.metadata,
                    **publish(run.value, CODE_VERSIONS["lake"]).metadata(),
                },
            )
            for run, report in zip(runs, audited, strict=True)
        ]
        yield from month_events(context, published)

    return lake_trips


def _blocked(
    ds: TaxiDataset, runs: list[MonthRun[CleanedMonth]], failed: dict[str, list[str]]
) -> str:
    """Which months failed which blocking checks, and that nothing was published."""
    bad = [
        f"{ds.name} {run.month}: {run.value.path.name} failed blocking checks"
        f" {', '.join(failed[run.month])}"
        for run in runs
        if failed[run.month]
    ]
    return "; ".join(bad) + "; nothing is published: the lake keeps what it had, no sink loads it"


def _gcs_asset(assets: TripAssets) -> dg.AssetsDefinition:
    ds, key = assets.ds, trip_asset_key(assets.ds, "gcs")

    @assets.asset(
        "gcs",
        {"gcs"},
        "The lake parquet in the GCS bucket (its generation is recorded with the month's version).",
        check_specs=gcs_check_specs(key, assets.partitions),
    )
    def gcs_trips(
        context: dg.AssetExecutionContext, lake: LakeResource, gcs: LakeBucketResource
    ) -> dg.MaterializeResult:
        client = gcs.get_client()

        def upload(month: str) -> tuple[Metadata, dg.AssetCheckResult]:
            src = catalog.clean_path(lake.path, ds, month)
            result = upload_if_changed(client, gcs.bucket, catalog.gcs_key(ds, month), src)
            stored = stored_object(client, gcs.bucket, catalog.gcs_key(ds, month))
            check = object_matches_lake(
                key,
                stored.size if stored else 0,
                stored.md5 if stored else "",
                result.size,  # the lake file's size and MD5, measured once by the upload
                result.md5,
            )
            store = MonthVersions(lake.path, ds, month)
            version = store.read().published
            if version is not None:
                store.record(version, gcs_generation=result.generation)
            metadata = {
                "uri": dg.MetadataValue.url(result.uri),
                "bytes": result.size,
                "md5": result.md5,
                "generation": str(result.generation),
                "uploaded": result.uploaded,
                "version": version,
            }
            return metadata, check

        return report_months(
            context,
            [
                MonthReport(run.month, run.value[0], run.seconds, [run.value[1]])
                for run in run_months(context, ds.name, upload)
            ],
        )

    return gcs_trips


def _warehouse_result(
    context: dg.AssetExecutionContext,
    key: dg.AssetKey,
    runs: list[MonthRun[SyncedMonth]],
    table_rows: int,
) -> MonthsResult:
    """Each month's rows (`month_row_count`) and the whole table's after the run
    (`dagster/row_count`: the UI's "Row count" of the asset)."""

    def report(run: MonthRun[SyncedMonth]) -> MonthReport:
        synced = run.value
        metadata = {
            "dagster/row_count": table_rows,
            "month_row_count": synced.rows,
            "version": synced.version,
            "loaded": synced.loaded,
        }
        check = rows_match_lake(key, synced.rows, synced.lake_rows)
        return MonthReport(run.month, metadata, run.seconds, [check])

    return report_months(context, [report(run) for run in runs])


def _lake_months(lake: Path, ds: TaxiDataset, months: list[str], bucket: str) -> list[LakeMonth]:
    """The run's published lake months, with their bucket URIs (for engines loading from it)."""
    return [
        LakeMonth(
            m,
            catalog.clean_path(lake, ds, m),
            catalog.gcs_uri(bucket, ds, m) if bucket else "",
            MonthVersions(lake, ds, m).read().published,
        )
        for m in months
    ]


def _sink_asset(
    assets: TripAssets, layer: Layer, text: str
) -> Callable[[Callable[..., object]], dg.AssetsDefinition]:
    """A warehouse asset, saying before it is ever materialized its table and columns."""
    table = assets.tables.name(layer, catalog.trips_table(assets.ds))
    return assets.asset(
        layer,
        {layer},
        f"{text} The lake version each month holds is in the `{catalog.VERSIONS_TABLE}` table;"
        " a month already holding the lake's version is not loaded again.",
        check_specs=sink_check_specs(trip_asset_key(assets.ds, layer), assets.partitions),
        metadata={"dagster/table_name": table, "dagster/column_schema": table_schema(assets.ds)},
    )


def _bigquery_asset(assets: TripAssets) -> dg.AssetsDefinition:
    ds, key = assets.ds, trip_asset_key(assets.ds, "bigquery")

    @_sink_asset(
        assets,
        "bigquery",
        "BigQuery table, month-partitioned on source_month; a month is replaced atomically.",
    )
    def bigquery_trips(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        gcs: LakeBucketResource,
        bigquery: BigQueryDatasetResource,
    ) -> dg.MaterializeResult:
        with bigquery.get_client() as client:
            trips = trip_sink(bigquery_engine, client, bigquery.dataset_id, ds)

            def load(months: list[str]) -> dict[str, SyncedMonth]:
                return sync_months(trips, _lake_months(lake.path, ds, months, gcs.bucket))

            runs = run_batch(context, ds.name, load)
            table_rows = bigquery_engine.table_row_count(
                client, bigquery.dataset_id, catalog.trips_table(ds)
            )
            return _warehouse_result(context, key, runs, table_rows)

    return bigquery_trips


def _postgres_asset(assets: TripAssets) -> dg.AssetsDefinition:
    ds, key = assets.ds, trip_asset_key(assets.ds, "postgres")

    @_sink_asset(
        assets,
        "postgres",
        "PostgreSQL table; a month is replaced in one transaction (DELETE + COPY).",
    )
    def postgres_trips(
        context: dg.AssetExecutionContext, lake: LakeResource, postgres: PostgresResource
    ) -> dg.MaterializeResult:
        def load(months: list[str]) -> dict[str, SyncedMonth]:
            with postgres.connect() as conn:
                trips = trip_sink(postgres_engine, conn, postgres.schema, ds)
                return sync_months(trips, _lake_months(lake.path, ds, months, bucket=""))

        runs = run_batch(context, ds.name, load)
        with postgres.connect() as conn:
            table_rows = postgres_engine.table_row_count(
                conn, postgres.schema, catalog.trips_table(ds)
            )
        return _warehouse_result(context, key, runs, table_rows)

    return postgres_trips


def build_trip_assets(
    ds: TaxiDataset,
    partitions: dg.PartitionsDefinition,
    source: Source,
    settings: Settings | None = None,
) -> list[dg.AssetsDefinition]:
    """The five monthly assets of one dataset from `source`, all in group `ds.name`."""
    settings = settings or load_settings()
    shared = AssetOptions(
        group_name=ds.name,
        owners=("team:data-eng",),
        tags={"dataset": ds.name},
        partitions_def=partitions,
        backfill_policy=backfill_policy(settings),
    )
    assets = TripAssets(ds, source, warehouse_tables(settings), shared, settings.max_rejected_share)
    builders = (_raw_asset, _lake_asset, _gcs_asset, _bigquery_asset, _postgres_asset)
    return [build(assets) for build in builders]


def build_trip_definitions(
    ds: TaxiDataset, partitions: dg.PartitionsDefinition, source: Source, settings: Settings
) -> dg.Definitions:
    """Everything of one dataset: its assets, its monthly job, schedule and new-month sensor,
    and its freshness check."""
    freshness = build_freshness_check(ds, partitions, settings)
    job = dg.define_asset_job(
        f"{ds.name}_monthly",
        selection=dg.AssetSelection.groups(ds.name) - dg.AssetSelection.checks(freshness),
        description=f"Every layer of {ds.name} for one month.",
    )
    return dg.Definitions(
        assets=build_trip_assets(ds, partitions, source, settings),
        asset_checks=[freshness],
        jobs=[job],
        schedules=[build_monthly_schedule(ds, job.name, partitions, settings)],
        sensors=[build_new_month_sensor(ds, source, job.name, partitions, settings)],
    )
