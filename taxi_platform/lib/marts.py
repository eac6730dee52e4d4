"""The zone_daily_revenue mart, defined once: its columns and one SQL query, rendered for each
engine with SQLGlot; its column lineage is read from the same query.

One row per (pickup day, service type, pickup zone) of a month: trips, passengers, distance,
fares, tips and revenue of the yellow and green trips picked up that day, with the zone's
borough and name from the TLC zone lookup. Pickups outside the partition month (the TLC files
carry a few, some years off) are left out, so each day belongs to exactly one month.

The query reads the trip and zone tables by their catalog names; `month_select` puts each
engine's qualified names in their place. The month enters as literals built from a validated
`date` (the BigQuery emulator passes no parameters into scripts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import sqlglot
from sqlglot import exp
from sqlglot.lineage import lineage

from taxi_platform.catalog import GREEN, YELLOW, ZONE_TABLE, Kind, TaxiDataset, trips_table
from taxi_platform.lib.months import month_start, next_month

REVENUE_DATASETS: tuple[TaxiDataset, ...] = (YELLOW, GREEN)
SOURCE_DIALECT = "postgres"
MART_PARTITION_COLUMN = "source_month"


class MissingInputError(RuntimeError):
    """An input table of the mart does not exist yet."""


@dataclass(frozen=True)
class MartColumn:
    """One mart column: its name, type and description (the query computes it)."""

    name: str
    kind: Kind
    description: str


COLUMNS: tuple[MartColumn, ...] = (
    MartColumn("source_month", Kind.DATE, "First day of the partition month."),
    MartColumn("pickup_date", Kind.DATE, "Day of the pickup (TLC wall-clock time)."),
    MartColumn("service_type", Kind.STRING, "Taxi service: yellow or green."),
    MartColumn("pickup_location_id", Kind.INT, "TLC zone id of the pickup."),
    MartColumn("pickup_borough", Kind.STRING, "Borough of the pickup zone."),
    MartColumn("pickup_zone", Kind.STRING, "Name of the pickup zone."),
    MartColumn(
        "pickup_service_zone",
        Kind.STRING,
        "Service zone of the pickup (Yellow Zone, Boro Zone, Airports, EWR).",
    ),
    MartColumn("trips", Kind.INT, "Trips picked up that day in that zone."),
    MartColumn("passengers", Kind.INT, "Sum of passenger_count (empty counts left out)."),
    MartColumn("trip_distance_miles", Kind.FLOAT, "Sum of trip_distance."),
    MartColumn("fare_amount", Kind.FLOAT, "Sum of fare_amount, USD."),
    MartColumn("tip_amount", Kind.FLOAT, "Sum of tip_amount (card tips), USD."),
    MartColumn("total_amount", Kind.FLOAT, "Revenue: sum of total_amount, USD (refunds negative)."),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)

_TRIPS = """
SELECT '{service}' AS service_type, source_month, {pickup} AS pickup_ts, pu_location_id,
       passenger_count, trip_distance, fare_amount, tip_amount, total_amount
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
WHERE t.pickup_ts >= CAST('{month} 00:00:00+00' AS TIMESTAMPTZ)
  AND t.pickup_ts < CAST('{next_month} 00:00:00+00' AS TIMESTAMPTZ)
GROUP BY 1, 2, 3, 4, 5, 6, 7
"""


def _query(month: str, sources: tuple[TaxiDataset, ...]) -> exp.Expression:
    first: date = month_start(month)
    trips = "\n UNION ALL".join(
        _TRIPS.format(
            service=ds.name, pickup=ds.pickup_col, table=trips_table(ds), month=first.isoformat()
        )
        for ds in sources
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
    tree = _query("2000-01", REVENUE_DATASETS)
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
        for ds in REVENUE_DATASETS:
            values[f"trips_{ds.name}"] = self.trips.get(ds.name, 0)
            values[f"revenue_usd_{ds.name}"] = round(self.revenue.get(ds.name, 0.0), 2)
        return values


SUMMARY_SQL = (
    "SELECT service_type, COUNT(*) AS row_count, SUM(trips) AS trips,"
    " SUM(total_amount) AS revenue FROM {table} WHERE source_month = {month}"
    " GROUP BY service_type"
)
"""The per-service summary of one month; each engine fills in its table and month parameter."""
