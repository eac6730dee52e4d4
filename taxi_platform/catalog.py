"""Every name the platform uses, defined once: datasets, their eras and sources, tables, asset
keys, lake paths, GCS object names and source URLs. No Dagster import: the library uses it too.
The columns of each dataset are in `taxi_platform.schemas`; how a file of each era lands in them
is `taxi_platform.lib.eras`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa

from taxi_platform.schemas import (
    ARROW_TYPES,
    BIGQUERY_TYPES,
    FHV_COLUMNS,
    FHVHV_COLUMNS,
    GREEN_COLUMNS,
    POSTGRES_TYPES,
    SOURCE_MONTH,
    VERSION_COLUMNS,
    YELLOW_COLUMNS,
    ZONE_COLUMNS,
    Column,
    Kind,
)

# Re-exported: the catalog is where the rest of the platform looks names up.
__all__ = [
    "ARROW_TYPES",
    "BIGQUERY_TYPES",
    "POSTGRES_TYPES",
    "SOURCE_MONTH",
    "VERSION_COLUMNS",
    "ZONE_COLUMNS",
    "Column",
    "Kind",
]


@dataclass(frozen=True)
class Era:
    """A run of months whose files share one layout; `name` is recorded with every month. How a
    file of any era becomes the dataset's columns (names, types, codes) is
    `taxi_platform.lib.eras`, used by both lake paths."""

    name: str
    first_month: str


@dataclass(frozen=True)
class TaxiDataset:
    """A TLC trip dataset: one file per month, landed in one canonical schema."""

    name: str
    description: str
    pickup_col: str
    dropoff_col: str
    columns: tuple[Column, ...]
    eras: tuple[Era, ...]

    @property
    def landed_columns(self) -> tuple[Column, ...]:
        """Columns as stored in the lake and every sink, in this exact order."""
        return (*self.columns, SOURCE_MONTH)

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, ARROW_TYPES[c.kind]) for c in self.landed_columns])

    def column(self, name: str) -> Column:
        return next(c for c in self.landed_columns if c.name == name)

    def era(self, month: str) -> str:
        """The name of the layout era `month` belongs to; its files land in `columns` through
        `taxi_platform.lib.eras`."""
        return [e.name for e in self.eras if e.first_month <= month][-1]


YELLOW = TaxiDataset(
    name="yellow",
    description="Yellow (medallion) taxi trips.",
    pickup_col="tpep_pickup_datetime",
    dropoff_col="tpep_dropoff_datetime",
    columns=YELLOW_COLUMNS,
    eras=(
        Era("yellow-2009", "2009-01"),
        Era("yellow-2010", "2010-01"),
        Era("yellow-2011", "2011-01"),
        Era("yellow-2023", "2023-02"),
        Era("yellow-2025", "2025-01"),
        Era("yellow-2026-06", "2026-06"),
    ),
)
GREEN = TaxiDataset(
    name="green",
    description="Green (street-hail livery) taxi trips.",
    pickup_col="lpep_pickup_datetime",
    dropoff_col="lpep_dropoff_datetime",
    columns=GREEN_COLUMNS,
    eras=(
        Era("green-2013", "2013-08"),
        Era("green-2023", "2023-02"),
        Era("green-2025", "2025-01"),
        Era("green-2026-06", "2026-06"),
    ),
)
FHV = TaxiDataset(
    name="fhv",
    description="For-hire vehicle trips of non-high-volume bases (header case drifts).",
    pickup_col="pickup_datetime",
    dropoff_col="dropoff_datetime",
    columns=FHV_COLUMNS,
    eras=(Era("fhv-2015", "2015-01"), Era("fhv-2023", "2023-02")),
)
FHVHV = TaxiDataset(
    name="fhvhv",
    description="High-volume for-hire trips (Uber, Lyft, Via, Juno).",
    pickup_col="pickup_datetime",
    dropoff_col="dropoff_datetime",
    columns=FHVHV_COLUMNS,
    eras=(
        Era("fhvhv-2019", "2019-01"),
        Era("fhvhv-2023", "2023-02"),
        Era("fhvhv-2025", "2025-01"),
    ),
)

DATASETS: tuple[TaxiDataset, ...] = (YELLOW, GREEN, FHV, FHVHV)
DATASETS_BY_NAME: dict[str, TaxiDataset] = {ds.name: ds for ds in DATASETS}


# --- Sources: where each dataset's monthly files are published. ---

FileFormat = Literal["parquet", "csv.gz"]


@dataclass(frozen=True)
class Source:
    """A publisher of monthly trip files: its URL layout, file format and months."""

    name: str
    base_url: str
    file_format: FileFormat
    first_months: dict[str, str]
    last_month: str | None
    """The newest month it will ever hold; None: it keeps publishing."""

    def file_name(self, ds: TaxiDataset, month: str) -> str:
        return f"{ds.name}_tripdata_{month}.{self.file_format}"

    def url(self, base_url: str, ds: TaxiDataset, month: str) -> str:
        folder = "trip-data" if self.file_format == "parquet" else ds.name
        return f"{base_url.rstrip('/')}/{folder}/{self.file_name(ds, month)}"


TLC = Source(
    name="tlc",
    base_url="https://d37ci6vzurychx.cloudfront.net",
    file_format="parquet",
    first_months={"yellow": "2009-01", "green": "2014-01", "fhv": "2015-01", "fhvhv": "2019-02"},
    last_month=None,
)
COURSE_MIRROR = Source(
    name="course-mirror",
    base_url="https://github.com/DataTalksClub/nyc-tlc-data/releases/download",
    file_format="csv.gz",
    first_months={"yellow": "2019-01", "green": "2019-01", "fhv": "2019-01", "fhvhv": "2019-02"},
    last_month="2021-07",
)
SOURCES: dict[str, Source] = {s.name: s for s in (TLC, COURSE_MIRROR)}


def source_named(name: str) -> Source:
    """The source called `name` (`TAXI_SOURCE`); refuses any other name."""
    if name not in SOURCES:
        raise ValueError(f"TAXI_SOURCE must be one of {', '.join(SOURCES)}, not {name!r}")
    return SOURCES[name]


# --- Tables and asset keys: keys name where the data lives; groups name the dataset. ---

Engine = Literal["bigquery", "postgres"]
Layer = Literal["raw", "lake", "gcs", "bigquery", "postgres"]
KeyPath = tuple[str, ...]

ENGINES: tuple[Engine, ...] = ("bigquery", "postgres")
LAYERS: tuple[Layer, ...] = ("raw", "lake", "gcs", "bigquery", "postgres")
WAREHOUSE_SCHEMA = "taxi"
"""Second component of every warehouse asset key (the default dataset/schema name)."""
ZONE_TABLE = "taxi_zone_lookup"
ZONES_GROUP = "zones"
MART_TABLE = "zone_daily_revenue"
VERSIONS_TABLE = "month_versions"
ANALYTICS_GROUP = "analytics"


@dataclass(frozen=True)
class WarehouseTables:
    """Where the warehouse tables live, as configured: the BigQuery project and dataset, the
    PostgreSQL database and schema (an unset project or database shows as its variable)."""

    bigquery_dataset: str = WAREHOUSE_SCHEMA
    postgres_schema: str = WAREHOUSE_SCHEMA
    bigquery_project: str = "<GCP_PROJECT>"
    postgres_database: str = "<PG_DATABASE>"

    def name(self, engine: Engine, table: str) -> str:
        """The table's full name: `project.dataset.table` in BigQuery,
        `database.schema.table` in PostgreSQL."""
        if engine == "bigquery":
            return f"{self.bigquery_project}.{self.bigquery_dataset}.{table}"
        return f"{self.postgres_database}.{self.postgres_schema}.{table}"


def trips_table(ds: TaxiDataset) -> str:
    """Table name of the dataset's trips in BigQuery and in PostgreSQL."""
    return f"{ds.name}_trips"


def staging_table(ds: TaxiDataset, month: str) -> str:
    return f"{trips_table(ds)}__stage_{month.replace('-', '')}"


def trip_key(ds: TaxiDataset, layer: Layer) -> KeyPath:
    """The asset key path of one layer of a dataset: where the data lives, then a name no
    other asset shares (the UI labels nodes by the last component alone)."""
    if layer == "raw":
        return ("raw", ds.name, f"{ds.name}_trips_raw")
    if layer == "lake":
        return ("clean", ds.name, f"{ds.name}_trips_lake")
    if layer == "gcs":
        return ("gcs", ds.name, f"{ds.name}_trips_gcs")
    return (layer, WAREHOUSE_SCHEMA, f"{trips_table(ds)}_{layer}")


def zone_key(layer: Literal["raw", "bigquery", "postgres"]) -> KeyPath:
    if layer == "raw":
        return ("raw", "misc", f"{ZONE_TABLE}_raw")
    return (layer, WAREHOUSE_SCHEMA, f"{ZONE_TABLE}_{layer}")


def mart_key(engine: Engine) -> KeyPath:
    return (engine, WAREHOUSE_SCHEMA, f"{MART_TABLE}_{engine}")


# --- Locations: source URLs, lake files and GCS objects. ---

ZONE_LOOKUP_PATH = "misc/taxi_zone_lookup.csv"


def zone_lookup_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/{ZONE_LOOKUP_PATH}"


def raw_path(lake_root: Path, source: Source, ds: TaxiDataset, month: str) -> Path:
    return lake_root / "raw" / ds.name / source.file_name(ds, month)


def source_record_path(raw: Path) -> Path:
    """The JSON record of what the source said about a landed raw file (ETag, size)."""
    return raw.with_name(raw.name + ".source.json")


def parquet_name(ds: TaxiDataset, month: str) -> str:
    return f"{ds.name}_tripdata_{month}.parquet"


def clean_path(lake_root: Path, ds: TaxiDataset, month: str) -> Path:
    return lake_root / "clean" / ds.name / parquet_name(ds, month)


def audit_path(clean: Path) -> Path:
    """Where a month is written aside and audited before it replaces `clean`."""
    return clean.with_name(clean.name + ".audit")


def versions_dir(lake_root: Path, ds: TaxiDataset, month: str) -> Path:
    """Where every kept version of a month lives, one directory per version."""
    return lake_root / "versions" / ds.name / month


def manifest_path(lake_root: Path, ds: TaxiDataset, month: str) -> Path:
    """The month's manifest: its versions and their provenance, as JSON."""
    return lake_root / "manifest" / ds.name / f"{ds.name}_{month}.json"


def published_record_path(lake_root: Path, ds: TaxiDataset) -> Path:
    """What the new-month sensor's probes found the source has published (lib/freshness.py)."""
    return lake_root / "source" / f"{ds.name}_published.json"


def zone_lookup_path(lake_root: Path) -> Path:
    return lake_root / "raw" / ZONE_LOOKUP_PATH


def gcs_key(ds: TaxiDataset, month: str) -> str:
    return f"data/{ds.name}/{parquet_name(ds, month)}"


def gcs_uri(bucket: str, ds: TaxiDataset, month: str) -> str:
    return f"gs://{bucket}/{gcs_key(ds, month)}"
