"""The taxi zone lookup: one unpartitioned CSV shared by every dataset, landed in the lake and
copied as a table into BigQuery and PostgreSQL, where the analytics layer joins it."""

import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pyarrow.csv as pacsv

from taxi_platform import catalog
from taxi_platform.catalog import BIGQUERY_TYPES, ZONE_COLUMNS, ZONE_TABLE, ZONES_GROUP, Source
from taxi_platform.defs.asset_options import AssetOptions
from taxi_platform.defs.metadata import Metadata
from taxi_platform.defs.resources import (
    BigQueryDatasetResource,
    LakeResource,
    PostgresResource,
    SourceDownloader,
)
from taxi_platform.lib.source import DownloadError, NotPublishedError, verify_zone_lookup
from taxi_platform.lib.warehouse import bigquery as bigquery_engine
from taxi_platform.lib.warehouse import postgres as postgres_engine
from taxi_platform.lib.zones import landed_zone_ids
from taxi_platform.settings import load_settings, warehouse_tables

ZONE_LOOKUP_KEY = dg.AssetKey(catalog.zone_key("raw"))
ZONE_ASSETS = AssetOptions(
    group_name=ZONES_GROUP,
    owners=("team:data-eng",),
    tags={"dataset": "zones"},
    code_version="1",  # bumped when what an asset makes of its input changes
)


def zone_schema(source_names: bool = False) -> dg.TableSchema:
    """The zone table's columns: as landed (snake_case), or as in the TLC CSV header."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                c.source if source_names else c.name, BIGQUERY_TYPES[c.kind], c.description
            )
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


def _table_metadata(rows: int, started: float) -> Metadata:
    return {"dagster/row_count": rows, "seconds": round(time.monotonic() - started, 3)}


def _zone_table_asset(
    engine: catalog.Engine, tables: catalog.WarehouseTables
) -> Callable[[Callable[..., dg.MaterializeResult]], dg.AssetsDefinition]:
    """A zone table asset, saying before it is ever materialized its table and columns."""
    return ZONE_ASSETS.asset(
        dg.AssetKey(catalog.zone_key(engine)),
        {engine},
        deps=[ZONE_LOOKUP_KEY],
        metadata={
            "dagster/table_name": tables.name(engine, ZONE_TABLE),
            "dagster/column_schema": zone_schema(),
            "dagster/column_lineage": zone_lineage(),
        },
    )


def _zone_lookup_asset(source: Source) -> dg.AssetsDefinition:
    @ZONE_ASSETS.asset(
        ZONE_LOOKUP_KEY,
        {"csv-file"},  # Dagster's own "csv" kind shows an icon with a blank label
        metadata={"dagster/column_schema": zone_schema(source_names=True)},
    )
    def taxi_zone_lookup(
        context: dg.AssetExecutionContext, downloader: SourceDownloader, lake: LakeResource
    ) -> dg.MaterializeResult:
        """TLC taxi zones (LocationID, Borough, Zone, service_zone), landed in the lake."""
        url = catalog.zone_lookup_url(downloader.root(source))
        dst = catalog.zone_lookup_path(lake.path)
        landed = landed_zone_ids(dst)
        try:  # read through, keeping every landed zone, before it replaces the landed lookup
            downloader.download(
                url, dst, context.log, verify=lambda path: verify_zone_lookup(path, landed)
            )
        except (NotPublishedError, DownloadError) as err:
            raise dg.Failure(description=str(err), allow_retries=False) from err
        table = pacsv.read_csv(dst)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": table.num_rows,
                "dagster/column_schema": zone_schema(source_names=True),
                "bytes": dst.stat().st_size,
                "path": dg.MetadataValue.path(str(dst)),
            }
        )

    return taxi_zone_lookup


def _zone_csv(lake: LakeResource) -> Path:
    src = catalog.zone_lookup_path(lake.path)
    if not src.exists():
        raise dg.Failure(
            description=f"{src} is missing: materialize {ZONE_LOOKUP_KEY.to_user_string()} first",
            allow_retries=False,
        )
    return src


def _bigquery_zones(tables: catalog.WarehouseTables) -> dg.AssetsDefinition:
    @_zone_table_asset("bigquery", tables)
    def bigquery_zone_lookup(
        lake: LakeResource, bigquery: BigQueryDatasetResource
    ) -> dg.MaterializeResult:
        """TLC taxi zones as a BigQuery table, replaced whole by one load job."""
        started = time.monotonic()
        with bigquery.get_client() as client:
            rows = bigquery_engine.replace_zones(client, bigquery.dataset_id, _zone_csv(lake))
        return dg.MaterializeResult(metadata=_table_metadata(rows, started))

    return bigquery_zone_lookup


def _postgres_zones(tables: catalog.WarehouseTables) -> dg.AssetsDefinition:
    @_zone_table_asset("postgres", tables)
    def postgres_zone_lookup(
        lake: LakeResource, postgres: PostgresResource
    ) -> dg.MaterializeResult:
        """TLC taxi zones as a PostgreSQL table, replaced in one transaction (DELETE + COPY)."""
        started = time.monotonic()
        with postgres.connect() as conn:
            rows = postgres_engine.replace_zones(conn, postgres.schema, _zone_csv(lake))
        return dg.MaterializeResult(metadata=_table_metadata(rows, started))

    return postgres_zone_lookup


def build_zone_assets(
    source: Source, tables: catalog.WarehouseTables | None = None
) -> list[dg.AssetsDefinition]:
    """The zone lookup from `source`, and its tables in BigQuery and PostgreSQL."""
    tables = tables or warehouse_tables(load_settings())
    return [_zone_lookup_asset(source), _bigquery_zones(tables), _postgres_zones(tables)]
