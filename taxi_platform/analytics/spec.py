"""The zone_daily_revenue mart: its columns, where each comes from, and its monthly summary.

One row per (pickup day, service type, pickup zone) of a month: trips, passengers, distance,
fares, tips and revenue of the yellow and green trips picked up that day, with the zone's
borough and name from the TLC zone lookup. Pickups outside the partition month (the TLC files
carry a few, some years off) are left out, so each day belongs to exactly one month.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from taxi_platform.datasets import BIGQUERY_TYPES, GREEN, POSTGRES_TYPES, YELLOW, Kind, TaxiDataset
from taxi_platform.pipeline.factory import asset_keys
from taxi_platform.pipeline.zones import BIGQUERY_ZONES_KEY, POSTGRES_ZONES_KEY

MART = "zone_daily_revenue"
REVENUE_DATASETS: tuple[TaxiDataset, ...] = (YELLOW, GREEN)
PICKUP = "<pickup>"  # stands for each dataset's pickup timestamp column


@dataclass(frozen=True)
class MartColumn:
    """One mart column, its type and the trip-table or zone-table columns it is computed from."""

    name: str
    kind: Kind
    description: str
    trip_columns: tuple[str, ...] = ()
    zone_columns: tuple[str, ...] = field(default=())


COLUMNS: tuple[MartColumn, ...] = (
    MartColumn("source_month", Kind.DATE, "First day of the partition month.", ("source_month",)),
    MartColumn("pickup_date", Kind.DATE, "Day of the pickup (TLC wall-clock time).", (PICKUP,)),
    MartColumn("service_type", Kind.STRING, "Taxi service: yellow or green."),
    MartColumn("pickup_location_id", Kind.INT, "TLC zone id of the pickup.", ("pu_location_id",)),
    MartColumn(
        "pickup_borough", Kind.STRING, "Borough of the pickup zone.", (), ("location_id", "borough")
    ),
    MartColumn("pickup_zone", Kind.STRING, "Name of the pickup zone.", (), ("location_id", "zone")),
    MartColumn(
        "pickup_service_zone",
        Kind.STRING,
        "Service zone of the pickup (Yellow Zone, Boro Zone, Airports, EWR).",
        (),
        ("location_id", "service_zone"),
    ),
    MartColumn("trips", Kind.INT, "Trips picked up that day in that zone.", (PICKUP,)),
    MartColumn(
        "passengers",
        Kind.INT,
        "Sum of passenger_count (empty counts left out).",
        ("passenger_count",),
    ),
    MartColumn("trip_distance_miles", Kind.FLOAT, "Sum of trip_distance.", ("trip_distance",)),
    MartColumn("fare_amount", Kind.FLOAT, "Sum of fare_amount, USD.", ("fare_amount",)),
    MartColumn("tip_amount", Kind.FLOAT, "Sum of tip_amount (card tips), USD.", ("tip_amount",)),
    MartColumn(
        "total_amount",
        Kind.FLOAT,
        "Revenue: sum of total_amount, USD (refunds count negative).",
        ("total_amount",),
    ),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)


def mart_schema() -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(c.name, BIGQUERY_TYPES[c.kind], description=c.description)
            for c in COLUMNS
        ]
    )


def bigquery_columns() -> list[tuple[str, str, str]]:
    return [(c.name, BIGQUERY_TYPES[c.kind], c.description) for c in COLUMNS]


def postgres_columns() -> list[tuple[str, str]]:
    return [(c.name, POSTGRES_TYPES[c.kind]) for c in COLUMNS]


def column_lineage(warehouse: str) -> dg.TableColumnLineage:
    """Which columns of the trip tables and of the zone table each mart column comes from."""
    zones_key = {"bigquery": BIGQUERY_ZONES_KEY, "postgres": POSTGRES_ZONES_KEY}[warehouse]
    deps: dict[str, list[dg.TableColumnDep]] = {}
    for column in COLUMNS:
        found = [
            dg.TableColumnDep(
                asset_key=asset_keys(ds)[warehouse],
                column_name=ds.pickup_col if source == PICKUP else source,
            )
            for ds in REVENUE_DATASETS
            for source in column.trip_columns
        ]
        found += [
            dg.TableColumnDep(asset_key=zones_key, column_name=source)
            for source in column.zone_columns
        ]
        if found:
            deps[column.name] = found
    return dg.TableColumnLineage(deps_by_column=deps)


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
