"""Trip times are the source file's wall-clock values in every sink, whatever the session's
time zone: one month loaded into BigQuery and PostgreSQL through the engines, then read back
in a New York session, trip by trip and as the mart's days."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from devstack.tlc_parquet import write_official_zone_lookup
from taxi_platform.catalog import MART_TABLE, trips_table
from taxi_platform.lib.months import month_start, next_month
from taxi_platform.lib.warehouse import bigquery as bigquery_engine
from taxi_platform.lib.warehouse import postgres as postgres_engine
from taxi_platform_tests.lib.warehouse.conftest import LandedMonth

pytestmark = pytest.mark.integration
NAMESPACE = "wall_clock"
NEW_YORK = "America/New_York"


@pytest.fixture(scope="module")
def loaded(
    local_resources: dict[str, Any],
    landed_month: LandedMonth,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """The landed month and the zone lookup in both sinks, and the month of the mart."""
    ds, month = landed_month.ds, landed_month.month
    zones = write_official_zone_lookup(tmp_path_factory.mktemp("zones"))
    with local_resources["postgres"].connect() as conn:
        _new_york(conn)
        postgres_engine.replace_months(conn, NAMESPACE, ds, [landed_month.lake_month])
        postgres_engine.replace_zones(conn, NAMESPACE, zones)
        postgres_engine.replace_mart_month(conn, NAMESPACE, month)
    with local_resources["bigquery"].get_client() as client:
        bigquery_engine.replace_months(client, NAMESPACE, ds, [landed_month.lake_month])
        bigquery_engine.replace_zones(client, NAMESPACE, zones)
        bigquery_engine.replace_mart_month(client, NAMESPACE, month)
    return local_resources


def _new_york(conn: psycopg.Connection) -> None:
    conn.execute(sql.SQL("SET timezone = {}").format(sql.Literal(NEW_YORK)))


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    return tuple(datetime.combine(month_start(m), time()) for m in (month, next_month(month)))


def _source_pickups(landed: LandedMonth) -> pa.Array:
    """The pickup column of the TLC file, in microseconds, as the TLC wrote it."""
    column = pq.read_table(landed.source, columns=[landed.ds.pickup_col]).column(0)
    return column.cast(pa.timestamp("us"))


def _summary(pickups: pa.Array, month: str) -> tuple[datetime, datetime, int]:
    """First and last pickup, and pickups outside the month."""
    start, end = _month_bounds(month)
    outside = pc.or_(pc.less(pickups, start), pc.greater_equal(pickups, end))
    span = pc.min_max(pickups)
    return span["min"].as_py(), span["max"].as_py(), pc.sum(outside).as_py()


def _postgres_summary(resources: dict[str, Any], landed: LandedMonth) -> tuple[Any, ...]:
    """`_summary` read in a New York session."""
    with resources["postgres"].connect() as conn:
        _new_york(conn)
        query = sql.SQL(
            "SELECT min({p}), max({p}), count(*) FILTER (WHERE {p} < %s OR {p} >= %s) FROM {t}"
        ).format(
            p=sql.Identifier(landed.ds.pickup_col),
            t=sql.Identifier(NAMESPACE, trips_table(landed.ds)),
        )
        return conn.execute(query, _month_bounds(landed.month)).fetchone()


def _bigquery_summary(resources: dict[str, Any], landed: LandedMonth) -> tuple[Any, ...]:
    pickup = landed.ds.pickup_col
    start, end = _month_bounds(landed.month)
    with resources["bigquery"].get_client() as client:
        table = bigquery_engine.table_id(client, NAMESPACE, trips_table(landed.ds))
        [row] = client.query(
            f"SELECT MIN({pickup}), MAX({pickup}), COUNTIF({pickup} < DATETIME '{start}'"
            f" OR {pickup} >= DATETIME '{end}') FROM `{table}`",
            job_retry=None,
        ).result()
    return tuple(row.values())


def test_a_trip_reads_the_source_wall_clock_time_in_both_sinks_under_a_new_york_session(
    loaded: dict[str, Any], landed_month: LandedMonth
) -> None:
    expected = _summary(_source_pickups(landed_month), landed_month.month)

    assert _postgres_summary(loaded, landed_month) == expected
    assert _bigquery_summary(loaded, landed_month) == expected


def _mart_days(rows: list[tuple[date, int]]) -> dict[date, int]:
    days: Counter[date] = Counter()
    for day, trips in rows:
        days[day] += trips
    return dict(days)


def test_the_marts_days_are_the_source_wall_clock_days_under_a_new_york_session(
    loaded: dict[str, Any], landed_month: LandedMonth
) -> None:
    start, end = _month_bounds(landed_month.month)
    pickups = _source_pickups(landed_month)
    inside = pickups.filter(pc.and_(pc.greater_equal(pickups, start), pc.less(pickups, end)))
    expected = dict(Counter(p.date() for p in inside.to_pylist()))
    query = "SELECT pickup_date, trips FROM {table} WHERE source_month = {month}"

    with loaded["postgres"].connect() as conn:
        _new_york(conn)
        table = sql.Identifier(NAMESPACE, MART_TABLE)
        rows = conn.execute(
            sql.SQL(query).format(table=table, month=sql.Literal(start.date()))
        ).fetchall()
    assert _mart_days(rows) == expected
    with loaded["bigquery"].get_client() as client:
        table = f"`{bigquery_engine.table_id(client, NAMESPACE, MART_TABLE)}`"
        rows = client.query(
            query.format(table=table, month=f"DATE '{start.date()}'"), job_retry=None
        ).result()
        assert _mart_days([tuple(r.values()) for r in rows]) == expected
