"""Build a month of zone_daily_revenue inside PostgreSQL (SQL only; no rows leave the server).

DELETE the month and INSERT … SELECT the aggregate in one transaction, serialised per month
with an advisory lock, so readers see the old month or the new one.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from psycopg import sql

from taxi_platform.analytics.bigquery_mart import MissingInputError
from taxi_platform.analytics.spec import (
    COLUMN_NAMES,
    MART,
    REVENUE_DATASETS,
    MonthSummary,
    postgres_columns,
)
from taxi_platform.datasets import TaxiDataset
from taxi_platform.identifiers import sql_name
from taxi_platform.months import month_start, next_month
from taxi_platform.paths import table_name
from taxi_platform.pipeline.zones import ZONE_TABLE


def _table(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(sql_name(schema, "PostgreSQL schema"), table)


def ensure_mart_table(conn: psycopg.Connection, schema: str) -> None:
    """Create the schema, the mart table and its month index if missing."""
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))
        for name, kind in postgres_columns()
    )
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('taxi_platform.ddl'))")
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(_table(schema, MART), columns)
        )
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (source_month)").format(
                sql.Identifier(f"{MART}_source_month_idx"), _table(schema, MART)
            )
        )


def _exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    qualified = f'"{sql_name(schema, "PostgreSQL schema")}"."{table}"'
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified,)).fetchone()[0]


def trip_sources(conn: psycopg.Connection, schema: str) -> list[TaxiDataset]:
    """The revenue datasets whose trips table exists; the zone table must exist too."""
    if not _exists(conn, schema, ZONE_TABLE):
        raise MissingInputError(
            f"{schema}.{ZONE_TABLE} does not exist: materialize the zone lookup first"
        )
    found = [ds for ds in REVENUE_DATASETS if _exists(conn, schema, table_name(ds))]
    if not found:
        names = ", ".join(table_name(ds) for ds in REVENUE_DATASETS)
        raise MissingInputError(f"none of {names} exists in schema {schema}: load trips first")
    return found


def month_insert(schema: str, sources: list[TaxiDataset]) -> sql.Composed:
    """INSERT … SELECT of one month; parameters `month`, `start`, `end`."""
    trips = sql.SQL(" UNION ALL ").join(
        sql.SQL(
            "SELECT {} AS service_type, {} AS pickup_ts, pu_location_id, passenger_count,"
            " trip_distance, fare_amount, tip_amount, total_amount"
            " FROM {} WHERE source_month = %(month)s"
        ).format(
            sql.Literal(ds.name), sql.Identifier(ds.pickup_col), _table(schema, table_name(ds))
        )
        for ds in sources
    )
    return sql.SQL(
        """
INSERT INTO {target} ({columns})
  SELECT
    %(month)s::date,
    (t.pickup_ts AT TIME ZONE 'UTC')::date,
    t.service_type,
    t.pu_location_id,
    z.borough,
    z.zone,
    z.service_zone,
    count(*),
    sum(t.passenger_count)::bigint,
    round(sum(t.trip_distance)::numeric, 2)::double precision,
    round(sum(t.fare_amount)::numeric, 2)::double precision,
    round(sum(t.tip_amount)::numeric, 2)::double precision,
    round(sum(t.total_amount)::numeric, 2)::double precision
  FROM ({trips}) AS t
  LEFT JOIN {zones} AS z ON z.location_id = t.pu_location_id
  WHERE t.pickup_ts >= %(start)s AND t.pickup_ts < %(end)s
  GROUP BY 1, 2, 3, 4, 5, 6, 7
"""
    ).format(
        target=_table(schema, MART),
        columns=sql.SQL(", ").join(sql.Identifier(c) for c in COLUMN_NAMES),
        trips=trips,
        zones=_table(schema, ZONE_TABLE),
    )


def month_summary(conn: psycopg.Connection, schema: str, month: str) -> MonthSummary:
    query = sql.SQL(
        "SELECT service_type, count(*), sum(trips)::bigint, sum(total_amount)"
        " FROM {} WHERE source_month = %s GROUP BY service_type"
    ).format(_table(schema, MART))
    result = conn.execute(query, (month_start(month),)).fetchall()
    return MonthSummary(
        rows={r[0]: r[1] for r in result},
        trips={r[0]: r[2] for r in result},
        revenue={r[0]: r[3] or 0.0 for r in result},
    )


def replace_month(
    conn: psycopg.Connection, schema: str, month: str
) -> tuple[MonthSummary, list[TaxiDataset]]:
    """Rebuild `month` of the mart; return its summary and the datasets it was built from."""
    sources = trip_sources(conn, schema)
    conn.commit()  # end the look-up's implicit transaction: the swap below is its own
    ensure_mart_table(conn, schema)
    first = month_start(month)
    params = {
        "month": first,
        "start": datetime(first.year, first.month, 1, tzinfo=UTC),
        "end": datetime.combine(month_start(next_month(month)), datetime.min.time(), UTC),
    }
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{schema}.{MART}:{month}",))
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE source_month = %s").format(_table(schema, MART)),
            (first,),
        )
        conn.execute(month_insert(schema, sources), params)
    return month_summary(conn, schema, month), sources
