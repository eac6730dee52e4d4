"""Every name the platform uses, defined once: datasets and their columns, tables, asset keys,
lake paths, GCS object names and source URLs. No Dagster import: the library uses it too.

Each column has the header it carries in the TLC CSV (matched case-insensitively, because the
fhv headers drift between years), the normalised snake_case name it lands under in the lake
and every sink, and a logical type that maps to Arrow, BigQuery and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Literal

import pyarrow as pa


class Kind(Enum):
    """Logical column type, mapped once to every storage system."""

    INT = "int"
    FLOAT = "float"
    STRING = "string"
    TIMESTAMP = "timestamp"
    DATE = "date"


ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.INT: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.STRING: pa.string(),
    Kind.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    Kind.DATE: pa.date32(),
}
BIGQUERY_TYPES: dict[Kind, str] = {
    Kind.INT: "INT64",
    Kind.FLOAT: "FLOAT64",
    Kind.STRING: "STRING",
    Kind.TIMESTAMP: "TIMESTAMP",
    Kind.DATE: "DATE",
}
POSTGRES_TYPES: dict[Kind, str] = {
    Kind.INT: "bigint",
    Kind.FLOAT: "double precision",
    Kind.STRING: "text",
    Kind.TIMESTAMP: "timestamptz",
    Kind.DATE: "date",
}


@dataclass(frozen=True)
class Column:
    """One column: its TLC CSV header, its landed name and its logical type."""

    source: str
    name: str
    kind: Kind
    required: bool = True
    description: str = ""


SOURCE_MONTH = Column(
    "source_month",
    "source_month",
    Kind.DATE,
    description=(
        "First day of the partition month the row was published in (out-of-month pickups keep"
        " their file's month)."
    ),
)


@dataclass(frozen=True)
class TaxiDataset:
    """A TLC trip dataset published as one CSV.gz per month."""

    name: str
    description: str
    pickup_col: str
    dropoff_col: str
    columns: tuple[Column, ...]

    @property
    def landed_columns(self) -> tuple[Column, ...]:
        """Columns as stored in the lake and every sink, in this exact order."""
        return (*self.columns, SOURCE_MONTH)

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, ARROW_TYPES[c.kind]) for c in self.landed_columns])

    def column(self, name: str) -> Column:
        return next(c for c in self.landed_columns if c.name == name)


def _amounts(*names: tuple[str, str]) -> tuple[Column, ...]:
    return tuple(Column(src, name, Kind.FLOAT) for src, name in names)


_TRIP_AMOUNTS = _amounts(
    ("fare_amount", "fare_amount"),
    ("extra", "extra"),
    ("mta_tax", "mta_tax"),
    ("tip_amount", "tip_amount"),
    ("tolls_amount", "tolls_amount"),
)

YELLOW = TaxiDataset(
    name="yellow",
    description="Yellow (medallion) taxi trips.",
    pickup_col="tpep_pickup_datetime",
    dropoff_col="tpep_dropoff_datetime",
    columns=(
        Column("VendorID", "vendor_id", Kind.INT),
        Column("tpep_pickup_datetime", "tpep_pickup_datetime", Kind.TIMESTAMP),
        Column("tpep_dropoff_datetime", "tpep_dropoff_datetime", Kind.TIMESTAMP),
        Column("passenger_count", "passenger_count", Kind.INT),
        Column("trip_distance", "trip_distance", Kind.FLOAT),
        Column("RatecodeID", "ratecode_id", Kind.INT),
        Column("store_and_fwd_flag", "store_and_fwd_flag", Kind.STRING),
        Column("PULocationID", "pu_location_id", Kind.INT),
        Column("DOLocationID", "do_location_id", Kind.INT),
        Column("payment_type", "payment_type", Kind.INT),
        *_TRIP_AMOUNTS,
        Column("improvement_surcharge", "improvement_surcharge", Kind.FLOAT),
        Column("total_amount", "total_amount", Kind.FLOAT),
        Column("congestion_surcharge", "congestion_surcharge", Kind.FLOAT, required=False),
    ),
)

GREEN = TaxiDataset(
    name="green",
    description="Green (street-hail livery) taxi trips.",
    pickup_col="lpep_pickup_datetime",
    dropoff_col="lpep_dropoff_datetime",
    columns=(
        Column("VendorID", "vendor_id", Kind.INT),
        Column("lpep_pickup_datetime", "lpep_pickup_datetime", Kind.TIMESTAMP),
        Column("lpep_dropoff_datetime", "lpep_dropoff_datetime", Kind.TIMESTAMP),
        Column("store_and_fwd_flag", "store_and_fwd_flag", Kind.STRING),
        Column("RatecodeID", "ratecode_id", Kind.INT),
        Column("PULocationID", "pu_location_id", Kind.INT),
        Column("DOLocationID", "do_location_id", Kind.INT),
        Column("passenger_count", "passenger_count", Kind.INT),
        Column("trip_distance", "trip_distance", Kind.FLOAT),
        *_TRIP_AMOUNTS,
        Column("ehail_fee", "ehail_fee", Kind.FLOAT, description="Always empty in the TLC data."),
        Column("improvement_surcharge", "improvement_surcharge", Kind.FLOAT),
        Column("total_amount", "total_amount", Kind.FLOAT),
        Column("payment_type", "payment_type", Kind.INT),
        Column("trip_type", "trip_type", Kind.INT),
        Column("congestion_surcharge", "congestion_surcharge", Kind.FLOAT, required=False),
    ),
)

FHV = TaxiDataset(
    name="fhv",
    description="For-hire vehicle trips (header case drifts between years).",
    pickup_col="pickup_datetime",
    dropoff_col="dropoff_datetime",
    columns=(
        Column("dispatching_base_num", "dispatching_base_num", Kind.STRING),
        Column("pickup_datetime", "pickup_datetime", Kind.TIMESTAMP),
        Column("dropOff_datetime", "dropoff_datetime", Kind.TIMESTAMP),
        Column("PUlocationID", "pu_location_id", Kind.INT),
        Column("DOlocationID", "do_location_id", Kind.INT),
        Column("SR_Flag", "sr_flag", Kind.INT),
        Column("Affiliated_base_number", "affiliated_base_number", Kind.STRING, required=False),
    ),
)

DATASETS: tuple[TaxiDataset, ...] = (YELLOW, GREEN, FHV)
DATASETS_BY_NAME: dict[str, TaxiDataset] = {ds.name: ds for ds in DATASETS}

ZONE_COLUMNS: tuple[Column, ...] = (
    Column("LocationID", "location_id", Kind.INT),
    Column("Borough", "borough", Kind.STRING),
    Column("Zone", "zone", Kind.STRING),
    Column("service_zone", "service_zone", Kind.STRING),
)


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
ANALYTICS_GROUP = "analytics"


def trips_table(ds: TaxiDataset) -> str:
    """Table name of the dataset's trips in BigQuery and in PostgreSQL."""
    return f"{ds.name}_trips"


def staging_table(ds: TaxiDataset, month: str) -> str:
    return f"{trips_table(ds)}__stage_{month.replace('-', '')}"


def trip_key(ds: TaxiDataset, layer: Layer) -> KeyPath:
    """The asset key path of one layer of a dataset."""
    if layer == "raw":
        return ("raw", ds.name, "trips_csv")
    if layer == "lake":
        return ("clean", ds.name, "trips_parquet")
    if layer == "gcs":
        return ("gcs", ds.name, "trips")
    return (layer, WAREHOUSE_SCHEMA, trips_table(ds))


def zone_key(layer: Literal["raw", "bigquery", "postgres"]) -> KeyPath:
    if layer == "raw":
        return ("raw", "misc", ZONE_TABLE)
    return (layer, WAREHOUSE_SCHEMA, ZONE_TABLE)


def mart_key(engine: Engine) -> KeyPath:
    return (engine, WAREHOUSE_SCHEMA, MART_TABLE)


# --- Locations: source URLs, lake files and GCS objects. ---

COURSE_MIRROR_URL = "https://github.com/DataTalksClub/nyc-tlc-data/releases/download/"
"""The course's CSV.gz mirror: the default source."""
ZONE_LOOKUP_PATH = "misc/taxi_zone_lookup.csv"


def source_file_name(ds: TaxiDataset, month: str) -> str:
    return f"{ds.name}_tripdata_{month}.csv.gz"


def source_url(base_url: str, ds: TaxiDataset, month: str) -> str:
    """URL of the month's CSV.gz under a mirror laid out like the public TLC mirror."""
    return f"{base_url.rstrip('/')}/{ds.name}/{source_file_name(ds, month)}"


def zone_lookup_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/{ZONE_LOOKUP_PATH}"


def raw_path(lake_root: Path, ds: TaxiDataset, month: str) -> Path:
    return lake_root / "raw" / ds.name / source_file_name(ds, month)


def source_record_path(raw: Path) -> Path:
    """The JSON record of what the source said about a landed raw file (ETag, size)."""
    return raw.with_name(raw.name + ".source.json")


def parquet_name(ds: TaxiDataset, month: str) -> str:
    return f"{ds.name}_tripdata_{month}.parquet"


def clean_path(lake_root: Path, ds: TaxiDataset, month: str) -> Path:
    return lake_root / "clean" / ds.name / parquet_name(ds, month)


def zone_lookup_path(lake_root: Path) -> Path:
    return lake_root / "raw" / ZONE_LOOKUP_PATH


def gcs_key(ds: TaxiDataset, month: str) -> str:
    return f"data/{ds.name}/{parquet_name(ds, month)}"


def gcs_uri(bucket: str, ds: TaxiDataset, month: str) -> str:
    return f"gs://{bucket}/{gcs_key(ds, month)}"
