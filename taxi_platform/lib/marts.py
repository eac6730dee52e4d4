"""The zone_daily_revenue mart, defined once: its columns and one SQL query, rendered for each
engine with SQLGlot; its column lineage is read from the same query.

One row per (pickup day, service type, pickup zone) of a month: trips, passengers, distance,
fares, tips and revenue of the trips of every dataset picked up that day (yellow, green, fhv,
fhvhv; a measure a dataset does not record is null), with the zone's borough and name from the
TLC zone lookup. Yellow 2009-2010 trips have coordinates, not zones: their zone is null.
Pickups outside the partition month (the TLC files carry a few, some years off) are left out,
so each day belongs to exactly one month. Pickup times are wall-clock timestamps without a zone
(PostgreSQL `timestamp`, BigQuery DATETIME), so days and month bounds do not depend on the
session's time zone.

The query reads the trip and zone tables by their catalog names; `month_select` puts each
engine's qualified names in their place. The month enters as literals built from a validated
`date` (the BigQuery emulator passes no parameters into scripts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

import sqlglot
from sqlglot import exp
from sqlglot.lineage import lineage

from taxi_platform.catalog import (
    FHV,
    FHVHV,
    GREEN,
    YELLOW,
    ZONE_TABLE,
    Kind,
    TaxiDataset,
    trips_table,
)
from taxi_platform.lib.months import month_start, next_month


@dataclass(frozen=True)
class MartInput:
    """How one dataset's trip table feeds the mart: an SQL expression per measure."""

    ds: TaxiDataset
    passengers: str
    distance: str
    fare: str
    tip: str
    total: str


_NO_INT, _NO_FLOAT = "CAST(NULL AS BIGINT)", "CAST(NULL AS DOUBLE PRECISION)"
_MEDALLION = ("passenger_count", "trip_distance", "fare_amount", "tip_amount", "total_amount")
_HV_CHARGES = ("tolls", "bcf", "sales_tax", "congestion_surcharge", "airport_fee")
_HV_CHARGES += ("cbd_congestion_fee", "tips")
MART_INPUTS: tuple[MartInput, ...] = (
    MartInput(YELLOW, *_MEDALLION),
    MartInput(GREEN, *_MEDALLION),
    MartInput(FHV, _NO_INT, _NO_FLOAT, _NO_FLOAT, _NO_FLOAT, _NO_FLOAT),
    MartInput(
        FHVHV,
        _NO_INT,
        "trip_miles",
        "base_passenger_fare",
        "tips",
        " + ".join(["base_passenger_fare", *(f"COALESCE({c}, 0)" for c in _HV_CHARGES)]),
    ),
)
MART_DATASETS: tuple[TaxiDataset, ...] = tuple(i.ds for i in MART_INPUTS)
SOURCE_DIALECT = "postgres"


class MissingInputError(RuntimeError):
    """An input table of the mart does not exist yet."""


def mart_sources(table_exists: Callable[[str], bool], where: str) -> tuple[TaxiDataset, ...]:
    """The revenue datasets whose trip table exists in `where` (a warehouse's dataset or
    schema, as `table_exists` sees it); the zone table must exist too."""
    if not table_exists(ZONE_TABLE):
        raise MissingInputError(
            f"{where}.{ZONE_TABLE} does not exist: materialize the zone lookup first"
        )
    found = tuple(ds for ds in MART_DATASETS if table_exists(trips_table(ds)))
    if not found:
        names = ", ".join(trips_table(ds) for ds in MART_DATASETS)
        raise MissingInputError(f"none of {names} exists in {where}: load trips first")
    return found


@dataclass(frozen=True)
class MartColumn:
    """One mart column: its name, type and description (the query computes it)."""

    name: str
    kind: Kind
    description: str


COLUMNS: tuple[MartColumn, ...] = (
    MartColumn("source_month", Kind.DATE, "First day of the partition month."),
    MartColumn("pickup_date", Kind.DATE, "Day of the pickup (TLC wall-clock time)."),
    MartColumn("service_type", Kind.STRING, "Service: yellow, green, fhv or fhvhv."),
    MartColumn("pickup_location_id", Kind.INT, "TLC zone id of the pickup."),
    MartColumn("pickup_borough", Kind.STRING, "Borough of the pickup zone."),
    MartColumn("pickup_zone", Kind.STRING, "Name of the pickup zone."),
    MartColumn(
        "pickup_service_zone",
        Kind.STRING,
        "Service zone of the pickup (Yellow Zone, Boro Zone, Airports, EWR).",
    ),
    MartColumn("trips", Kind.INT, "Trips picked up that day in that zone."),
    MartColumn("passengers", Kind.INT, "Sum of passenger_count (yellow, green; empties left out)."),
    MartColumn("trip_distance_miles", Kind.FLOAT, "Sum of trip_distance (fhvhv: trip_miles)."),
    MartColumn("fare_amount", Kind.FLOAT, "Sum of fares, USD (fhvhv: base_passenger_fare)."),
    MartColumn("tip_amount", Kind.FLOAT, "Sum of tips (yellow, green: card tips only), USD."),
    MartColumn(
        "total_amount",
        Kind.FLOAT,
        "Revenue: what passengers paid, USD (refunds negative; fhvhv: fare, tolls, taxes, fees"
        " and tips; fhv: not recorded).",
    ),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)

_TRIPS = """
SELECT '{service}' AS service_type, source_month, {pickup} AS pickup_ts, pu_location_id,
       {passengers} AS passenger_count, {distance} AS trip_distance, {fare} AS fare_amount,
       {tip} AS tip_amount, {total} AS total_amount
FROM {table} WHERE source_month = CAST('{month}' AS DATE)"""

_QUERY = """
SELECT
  t.source_month AS source_month,
  CAST(t.pickup_ts AS DATE) AS pickup_date,
  t.service_type AS service_type,
  t.pu_location_id AS pickup_location_id,
  z.borough AS pickup_borough,
  z.zone AS pickup_zone,
  z.service_zone AS pickup_service_zone,
  COUNT(t.pickup_ts) AS trips,
  CAST(SUM(t.passenger_count) AS BIGINT) AS passengers,
  CAST(ROUND(CAST(SUM(t.trip_distance) AS NUMERIC), 2) AS DOUBLE PRECISION) AS trip_distance_miles,
  CAST(ROUND(CAST(SUM(t.fare_amount) AS NUMERIC), 2) AS DOUBLE PRECISION) AS fare_amount,
  CAST(ROUND(CAST(SUM(t.tip_amount) AS NUMERIC), 2) AS DOUBLE PRECISION) AS tip_amount,
  CAST(ROUND(CAST(SUM(t.total_amount) AS NUMERIC), 2) AS DOUBLE PRECISION) AS total_amount
FROM ({trips}) AS t
LEFT JOIN {zones} AS z ON z.location_id = t.pu_location_id
WHERE t.pickup_ts >= CAST('{month} 00:00:00' AS TIMESTAMP)
  AND t.pickup_ts < CAST('{next_month} 00:00:00' AS TIMESTAMP)
GROUP BY 1, 2, 3, 4, 5, 6, 7
"""


def _query(month: str, sources: tuple[TaxiDataset, ...]) -> exp.Expression:
    first: date = month_start(month)
    trips = "\n UNION ALL".join(
        _TRIPS.format(
            service=i.ds.name,
            pickup=i.ds.pickup_col,
            passengers=i.passengers,
            distance=i.distance,
            fare=i.fare,
            tip=i.tip,
            total=i.total,
            table=trips_table(i.ds),
            month=first.isoformat(),
        )
        for i in MART_INPUTS
        if i.ds in sources
    )
    sql = _QUERY.format(
        month=first.isoformat(),
        next_month=month_start(next_month(month)).isoformat(),
        trips=trips,
        zones=ZONE_TABLE,
    )
    return sqlglot.parse_one(sql, read=SOURCE_DIALECT)


def month_select(
    month: str,
    sources: tuple[TaxiDataset, ...],
    dialect: str,
    qualified: Mapping[str, tuple[str, ...]],
) -> str:
    """The SELECT of one month from `sources`, in `dialect`; `qualified` maps each catalog
    table name to its engine's qualifiers (`(schema,)` or `(project, dataset)`)."""

    def qualify(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.name in qualified:
            *catalog, db = qualified[node.name]
            node.set("db", exp.to_identifier(db))
            if catalog:
                node.set("catalog", exp.to_identifier(catalog[0]))
        return node

    tree = _query(month, sources).transform(qualify)
    return tree.sql(dialect=dialect, identify=True, pretty=True)


def column_lineage() -> dict[str, list[tuple[str, str]]]:
    """For each mart column, the (table, column) pairs of the inputs it is computed from,
    read from the query itself."""
    tree = _query("2000-01", MART_DATASETS)
    deps: dict[str, list[tuple[str, str]]] = {}
    for name in COLUMN_NAMES:
        found = []
        for node in lineage(name, tree, dialect=SOURCE_DIALECT).walk():
            if not node.downstream and isinstance(node.source, exp.Table):
                found.append((node.source.name, node.name.split(".")[-1]))
        if found:
            deps[name] = sorted(set(found))
    return deps


@dataclass(frozen=True)
class MonthSummary:
    """What one month of the mart holds, per service type."""

    rows: dict[str, int]
    trips: dict[str, int]
    revenue: dict[str, float]

    def metadata(self) -> dict[str, int | float]:
        """Numbers the UI plots over partitions: rows, trips and revenue, also per service."""
        values: dict[str, int | float] = {
            "dagster/row_count": sum(self.rows.values()),
            "trips": sum(self.trips.values()),
            "revenue_usd": round(sum(self.revenue.values()), 2),
        }
        for ds in MART_DATASETS:
            values[f"trips_{ds.name}"] = self.trips.get(ds.name, 0)
            values[f"revenue_usd_{ds.name}"] = round(self.revenue.get(ds.name, 0.0), 2)
        return values


SUMMARY_SQL = (
    "SELECT service_type, COUNT(*) AS row_count, SUM(trips) AS trips,"
    " SUM(total_amount) AS revenue FROM {table} WHERE source_month = {month}"
    " GROUP BY service_type"
)
"""The per-service summary of one month; each engine fills in its table and month parameter."""
