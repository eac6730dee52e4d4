"""The canonical column set of every dataset: the superset of its schema eras, each column with
the names it carried in every era, its landed name and type, and its TLC data-dictionary text.

Columns are matched by name (ignoring case, spaces, dashes and underscores), never by position:
against the current TLC name, the landed snake_case name and the older names in `aliases`.
`codes` maps the text codes of old eras (upper-cased, trimmed) to today's values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

import pyarrow as pa


class Kind(Enum):
    """Logical column type, mapped once to every storage system. TIMESTAMP is a wall-clock date
    and time without a zone (the TLC records New York local time), the same in every sink."""

    INT = "int"
    FLOAT = "float"
    STRING = "string"
    TIMESTAMP = "timestamp"
    DATE = "date"


ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.INT: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.STRING: pa.string(),
    Kind.TIMESTAMP: pa.timestamp("us"),
    Kind.DATE: pa.date32(),
}
BIGQUERY_TYPES: dict[Kind, str] = {
    Kind.INT: "INT64",
    Kind.FLOAT: "FLOAT64",
    Kind.STRING: "STRING",
    Kind.TIMESTAMP: "DATETIME",
    Kind.DATE: "DATE",
}
POSTGRES_TYPES: dict[Kind, str] = {
    Kind.INT: "bigint",
    Kind.FLOAT: "double precision",
    Kind.STRING: "text",
    Kind.TIMESTAMP: "timestamp",
    Kind.DATE: "date",
}


@dataclass(frozen=True)
class Column:
    """One column: its current TLC name, its landed name and type, and how older eras differ."""

    source: str
    name: str
    kind: Kind
    description: str
    required: bool = True
    aliases: tuple[str, ...] = ()
    codes: Mapping[str, object] = field(default_factory=dict, hash=False)
    trim: bool = False
    placeholder: str | None = None
    """A timestamp the TLC writes for "unknown"; it lands as null."""


def _optional(source: str, name: str, kind: Kind, description: str, **kw: object) -> Column:
    """A column some eras lack: a file without it lands it as nulls."""
    return Column(source, name, kind, description, required=False, **kw)  # type: ignore[arg-type]


SOURCE_MONTH = Column(
    "source_month",
    "source_month",
    Kind.DATE,
    "First day of the partition month the row was published in (out-of-month pickups keep"
    " their file's month).",
)

VENDOR_CODES = {"CMT": 1, "VTS": 2, "DDS": 3}
PAYMENT_CODES = {
    **dict.fromkeys(("CREDIT", "CRE", "CRD"), 1),
    **dict.fromkeys(("CASH", "CAS", "CSH"), 2),
    **dict.fromkeys(("NO CHARGE", "NOC", "NO"), 3),
    **dict.fromkeys(("DISPUTE", "DIS"), 4),
}
FLAG_CODES = {"1": "Y", "1.0": "Y", "0": "N", "0.0": "N"}

_VENDOR = "TLC-licensed technology provider: 1 Creative Mobile, 2 Curb (VeriFone), 3 DDS,"
_VENDOR += " 6 Myle, 7 Helix (2009-2010 text codes mapped)."
_RATECODE = "Final rate code: 1 standard, 2 JFK, 3 Newark, 4 Nassau/Westchester, 5 negotiated,"
_RATECODE += " 6 group ride, 99 unknown."
_FLAG = "Y: the trip record was held in the vehicle before sending (no server connection)."
_PAYMENT = "How the passenger paid: 0 flex fare, 1 credit card, 2 cash, 3 no charge,"
_PAYMENT += " 4 dispute, 5 unknown, 6 voided trip."


def money_columns(columns: tuple[Column, ...]) -> list[str]:
    """The columns holding US dollar amounts (each says so in its description)."""
    return [c.name for c in columns if c.kind is Kind.FLOAT and "USD" in c.description]


def _money(source: str, name: str, description: str, *aliases: str) -> Column:
    return Column(source, name, Kind.FLOAT, description, aliases=aliases)


def _medallion_trip_columns(service: str) -> dict[str, Column]:
    """The trip columns yellow and green share, other than the times (green has no 2009-2010
    aliases)."""
    return {
        "vendor": Column(
            "VendorID", "vendor_id", Kind.INT, _VENDOR, aliases=("vendor_name",), codes=VENDOR_CODES
        ),
        "passengers": Column(
            "passenger_count", "passenger_count", Kind.INT, "Passengers, as entered by the driver."
        ),
        "distance": Column("trip_distance", "trip_distance", Kind.FLOAT, "Miles on the taximeter."),
        "ratecode": Column(
            "RatecodeID", "ratecode_id", Kind.INT, _RATECODE, aliases=("Rate_Code",)
        ),
        "flag": Column(
            "store_and_fwd_flag",
            "store_and_fwd_flag",
            Kind.STRING,
            _FLAG,
            aliases=("store_and_forward",),
            codes=FLAG_CODES,
        ),
        "pu": _optional("PULocationID", "pu_location_id", Kind.INT, "TLC taxi zone of the pickup."),
        "do": _optional(
            "DOLocationID", "do_location_id", Kind.INT, "TLC taxi zone of the dropoff."
        ),
        "payment": Column("payment_type", "payment_type", Kind.INT, _PAYMENT, codes=PAYMENT_CODES),
        "request_source": _optional(
            "request_source",
            "request_source",
            Kind.STRING,
            f"How the {service} trip was requested (from 2026-06; codes not yet documented).",
        ),
    }


def _medallion_charge_columns() -> dict[str, Column]:
    """The charges yellow and green share, in USD."""
    return {
        "fare": _money("fare_amount", "fare_amount", "Time-and-distance fare, USD.", "Fare_Amt"),
        "extra": _money(
            "extra", "extra", "Extras and surcharges (rush hour, overnight), USD.", "surcharge"
        ),
        "mta": _money("mta_tax", "mta_tax", "MTA tax triggered by the metered rate, USD."),
        "tip": _money(
            "tip_amount", "tip_amount", "Card tips, USD (cash tips not included).", "Tip_Amt"
        ),
        "tolls": _money(
            "tolls_amount", "tolls_amount", "Tolls paid in the trip, USD.", "Tolls_Amt"
        ),
        "improvement": _optional(
            "improvement_surcharge",
            "improvement_surcharge",
            Kind.FLOAT,
            "Improvement surcharge at flag drop (from 2015), USD.",
        ),
        "total": _money(
            "total_amount",
            "total_amount",
            "Total charged to the passenger, USD (cash tips excluded).",
            "Total_Amt",
        ),
        "congestion": _optional(
            "congestion_surcharge",
            "congestion_surcharge",
            Kind.FLOAT,
            "New York State congestion surcharge (from 2019), USD.",
        ),
        "cbd": _optional(
            "cbd_congestion_fee",
            "cbd_congestion_fee",
            Kind.FLOAT,
            "MTA Congestion Relief Zone charge (from 2025-01-05), USD.",
        ),
    }


def _medallion_columns(service: str) -> dict[str, Column]:
    """Columns yellow and green share, by a short key; `service` names the dataset in texts."""
    return {**_medallion_trip_columns(service), **_medallion_charge_columns()}


_SHARED_YELLOW = _medallion_columns("yellow")
YELLOW_COLUMNS: tuple[Column, ...] = (
    _SHARED_YELLOW["vendor"],
    Column(
        "tpep_pickup_datetime",
        "tpep_pickup_datetime",
        Kind.TIMESTAMP,
        "When the meter was engaged (NYC wall-clock time).",
        aliases=("Trip_Pickup_DateTime", "pickup_datetime"),
    ),
    Column(
        "tpep_dropoff_datetime",
        "tpep_dropoff_datetime",
        Kind.TIMESTAMP,
        "When the meter was disengaged (NYC wall-clock time).",
        aliases=("Trip_Dropoff_DateTime", "dropoff_datetime"),
    ),
    _SHARED_YELLOW["passengers"],
    _SHARED_YELLOW["distance"],
    _SHARED_YELLOW["ratecode"],
    _SHARED_YELLOW["flag"],
    _SHARED_YELLOW["pu"],
    _SHARED_YELLOW["do"],
    _SHARED_YELLOW["payment"],
    _SHARED_YELLOW["fare"],
    _SHARED_YELLOW["extra"],
    _SHARED_YELLOW["mta"],
    _SHARED_YELLOW["tip"],
    _SHARED_YELLOW["tolls"],
    _SHARED_YELLOW["improvement"],
    _SHARED_YELLOW["total"],
    _SHARED_YELLOW["congestion"],
    _optional(
        "Airport_fee",
        "airport_fee",
        Kind.FLOAT,
        "Fee for pickups at LaGuardia and JFK (from 2020), USD.",
    ),
    _SHARED_YELLOW["cbd"],
    _SHARED_YELLOW["request_source"],
    _optional(
        "pickup_longitude",
        "pickup_longitude",
        Kind.FLOAT,
        "Pickup longitude (2009-2010 only).",
        aliases=("Start_Lon",),
    ),
    _optional(
        "pickup_latitude",
        "pickup_latitude",
        Kind.FLOAT,
        "Pickup latitude (2009-2010 only).",
        aliases=("Start_Lat",),
    ),
    _optional(
        "dropoff_longitude",
        "dropoff_longitude",
        Kind.FLOAT,
        "Dropoff longitude (2009-2010 only).",
        aliases=("End_Lon",),
    ),
    _optional(
        "dropoff_latitude",
        "dropoff_latitude",
        Kind.FLOAT,
        "Dropoff latitude (2009-2010 only).",
        aliases=("End_Lat",),
    ),
)

_SHARED_GREEN = _medallion_columns("green")
GREEN_COLUMNS: tuple[Column, ...] = (
    _SHARED_GREEN["vendor"],
    Column(
        "lpep_pickup_datetime",
        "lpep_pickup_datetime",
        Kind.TIMESTAMP,
        "When the meter was engaged (NYC wall-clock time).",
    ),
    Column(
        "lpep_dropoff_datetime",
        "lpep_dropoff_datetime",
        Kind.TIMESTAMP,
        "When the meter was disengaged (NYC wall-clock time).",
    ),
    _SHARED_GREEN["flag"],
    _SHARED_GREEN["ratecode"],
    _SHARED_GREEN["pu"],
    _SHARED_GREEN["do"],
    _SHARED_GREEN["passengers"],
    _SHARED_GREEN["distance"],
    _SHARED_GREEN["fare"],
    _SHARED_GREEN["extra"],
    _SHARED_GREEN["mta"],
    _SHARED_GREEN["tip"],
    _SHARED_GREEN["tolls"],
    _optional(
        "ehail_fee", "ehail_fee", Kind.FLOAT, "E-hail fee, USD (always empty in the TLC data)."
    ),
    _SHARED_GREEN["improvement"],
    _SHARED_GREEN["total"],
    _SHARED_GREEN["payment"],
    _optional("trip_type", "trip_type", Kind.INT, "1 street hail, 2 dispatch."),
    _SHARED_GREEN["congestion"],
    _SHARED_GREEN["cbd"],
    _SHARED_GREEN["request_source"],
)

_BASE = "TLC license number of the dispatching base (padding trimmed)."
FHV_COLUMNS: tuple[Column, ...] = (
    Column("dispatching_base_num", "dispatching_base_num", Kind.STRING, _BASE, trim=True),
    Column("pickup_datetime", "pickup_datetime", Kind.TIMESTAMP, "Pickup time (NYC wall-clock)."),
    Column(
        "dropOff_datetime",
        "dropoff_datetime",
        Kind.TIMESTAMP,
        "Dropoff time (NYC wall-clock; the TLC's 1989-01-01 placeholder lands as null).",
        placeholder="1989-01-01 00:00:00",
    ),
    Column("PUlocationID", "pu_location_id", Kind.INT, "TLC taxi zone of the pickup."),
    Column("DOlocationID", "do_location_id", Kind.INT, "TLC taxi zone of the dropoff."),
    Column("SR_Flag", "sr_flag", Kind.INT, "1: a shared ride (pooled), else null."),
    _optional(
        "Affiliated_base_number",
        "affiliated_base_number",
        Kind.STRING,
        "Base the vehicle is affiliated with (padding trimmed).",
        trim=True,
    ),
)

_HV_FLAG = "Y/N (a blank when not reported)"
FHVHV_COLUMNS: tuple[Column, ...] = (
    _optional(
        "hvfhs_license_num",
        "hvfhs_license_num",
        Kind.STRING,
        "High-volume company: HV0002 Juno, HV0003 Uber, HV0004 Via, HV0005 Lyft.",
    ),
    Column("dispatching_base_num", "dispatching_base_num", Kind.STRING, _BASE, trim=True),
    _optional(
        "originating_base_num",
        "originating_base_num",
        Kind.STRING,
        "Base that received the original request (padding trimmed).",
        trim=True,
    ),
    _optional(
        "request_datetime", "request_datetime", Kind.TIMESTAMP, "When the ride was requested."
    ),
    _optional(
        "on_scene_datetime",
        "on_scene_datetime",
        Kind.TIMESTAMP,
        "When the driver arrived (accessible vehicles only).",
    ),
    Column("pickup_datetime", "pickup_datetime", Kind.TIMESTAMP, "Pickup time (NYC wall-clock)."),
    Column("dropoff_datetime", "dropoff_datetime", Kind.TIMESTAMP, "Dropoff time."),
    Column("PULocationID", "pu_location_id", Kind.INT, "TLC taxi zone of the pickup."),
    Column("DOLocationID", "do_location_id", Kind.INT, "TLC taxi zone of the dropoff."),
    _optional("trip_miles", "trip_miles", Kind.FLOAT, "Miles driven with the passenger."),
    _optional("trip_time", "trip_time", Kind.INT, "Seconds with the passenger."),
    _optional(
        "base_passenger_fare",
        "base_passenger_fare",
        Kind.FLOAT,
        "Fare before tolls, tips, taxes and fees, USD.",
    ),
    _optional("tolls", "tolls", Kind.FLOAT, "Tolls, USD."),
    _optional("bcf", "bcf", Kind.FLOAT, "Black Car Fund contribution, USD."),
    _optional("sales_tax", "sales_tax", Kind.FLOAT, "NYS sales tax, USD."),
    _optional(
        "congestion_surcharge", "congestion_surcharge", Kind.FLOAT, "NYS congestion surcharge, USD."
    ),
    _optional("airport_fee", "airport_fee", Kind.FLOAT, "Airport pickup/dropoff fee, USD."),
    _optional("tips", "tips", Kind.FLOAT, "Tips, USD."),
    _optional("driver_pay", "driver_pay", Kind.FLOAT, "Driver pay (not tolls or tips), USD."),
    _optional(
        "shared_request_flag",
        "shared_request_flag",
        Kind.STRING,
        f"The passenger agreed to a shared ride: {_HV_FLAG}.",
    ),
    _optional(
        "shared_match_flag",
        "shared_match_flag",
        Kind.STRING,
        f"The passenger shared the vehicle: {_HV_FLAG}.",
    ),
    _optional(
        "access_a_ride_flag",
        "access_a_ride_flag",
        Kind.STRING,
        f"Administered on behalf of the MTA Access-A-Ride: {_HV_FLAG}.",
    ),
    _optional(
        "wav_request_flag",
        "wav_request_flag",
        Kind.STRING,
        f"A wheelchair-accessible vehicle was requested: {_HV_FLAG}.",
    ),
    _optional(
        "wav_match_flag",
        "wav_match_flag",
        Kind.STRING,
        f"The trip was in a wheelchair-accessible vehicle: {_HV_FLAG}.",
    ),
    _optional(
        "cbd_congestion_fee",
        "cbd_congestion_fee",
        Kind.FLOAT,
        "MTA Congestion Relief Zone charge (from 2025-01-05), USD.",
    ),
)

VERSION_COLUMNS: tuple[Column, ...] = (
    Column("table_name", "table_name", Kind.STRING, "The trip table, e.g. yellow_trips."),
    Column("source_month", "source_month", Kind.DATE, "First day of the month."),
    Column(
        "version",
        "version",
        Kind.STRING,
        "The lake version the table holds for the month: the first 16 hex digits of the"
        " sha256 of the source file (see the month's manifest in the lake).",
    ),
    Column("loaded_at", "loaded_at", Kind.TIMESTAMP, "When that version was loaded (UTC)."),
)
"""The rows of `month_versions`: which release of each month each trip table holds."""

ZONE_COLUMNS: tuple[Column, ...] = (
    Column("LocationID", "location_id", Kind.INT, "TLC taxi zone id."),
    Column("Borough", "borough", Kind.STRING, "NYC borough (or EWR, Unknown, N/A)."),
    Column("Zone", "zone", Kind.STRING, "Zone name."),
    Column("service_zone", "service_zone", Kind.STRING, "Yellow Zone, Boro Zone, Airports, EWR."),
)
