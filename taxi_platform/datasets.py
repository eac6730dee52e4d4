"""The TLC datasets and their schemas: the one place that knows every column.

Each column has the header it carries in the TLC CSV (matched case-insensitively, because the
fhv headers drift between years), the normalised snake_case name it lands under in the lake
and every sink, and a logical type that maps to Arrow, BigQuery and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

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
