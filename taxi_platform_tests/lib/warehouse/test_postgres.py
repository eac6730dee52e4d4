"""The PostgreSQL engine: tables made before (`timestamptz` columns, a B-tree month index)
are brought to today's shape, and a month loads once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow.parquet as pq
import pytest
from psycopg import sql

from taxi_platform.catalog import POSTGRES_TYPES, YELLOW, Kind, trips_table
from taxi_platform.lib.warehouse import postgres as engine
from taxi_platform_tests.lib.warehouse.conftest import LandedMonth

pytestmark = pytest.mark.integration
SCHEMA = "zoned_timestamps"


def _create_zoned_table(conn: Any) -> sql.Identifier:
    """The trip table as it was made when timestamps were `timestamptz`, with one trip."""
    table = sql.Identifier(SCHEMA, trips_table(YELLOW))
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(
            sql.Identifier(c.name),
            sql.SQL("timestamptz" if c.kind is Kind.TIMESTAMP else POSTGRES_TYPES[c.kind]),
        )
        for c in YELLOW.landed_columns
    )
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(table, columns))
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (tpep_pickup_datetime, tpep_dropoff_datetime, source_month)"
            " VALUES ('2021-02-28 23:30:00+00', '2021-03-01 00:10:00+00', '2021-02-01')"
        ).format(table)
    )
    conn.commit()
    return table


def test_a_timestamptz_table_becomes_wall_clock_timestamp_keeping_its_values(
    local_resources: dict[str, Any],
) -> None:
    with local_resources["postgres"].connect() as conn:
        table = _create_zoned_table(conn)

        engine.ensure_trips_table(conn, SCHEMA, YELLOW)

        conn.execute("SET timezone = 'America/New_York'")
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s",
                (SCHEMA, trips_table(YELLOW)),
            ).fetchall()
        )
        row = conn.execute(
            sql.SQL("SELECT tpep_pickup_datetime, tpep_dropoff_datetime FROM {}").format(table)
        ).fetchone()
    assert {types[c] for c in ("tpep_pickup_datetime", "tpep_dropoff_datetime")} == {
        "timestamp without time zone"
    }
    assert row == (datetime(2021, 2, 28, 23, 30), datetime(2021, 3, 1, 0, 10))


def _month_indexes(conn: Any) -> dict[str, str]:
    rows = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
        (SCHEMA, trips_table(YELLOW)),
    ).fetchall()
    return dict(rows)


def test_a_b_tree_month_index_becomes_brin_and_the_month_loads_once(
    local_resources: dict[str, Any], landed_month: LandedMonth
) -> None:
    rows = pq.ParquetFile(landed_month.lake).metadata.num_rows
    with local_resources["postgres"].connect() as conn:
        table = _create_zoned_table(conn)
        conn.execute(
            sql.SQL("CREATE INDEX yellow_trips_source_month_idx ON {} (source_month)").format(table)
        )
        conn.commit()

        landed = [
            engine.replace_months(conn, SCHEMA, YELLOW, [landed_month.lake_month])[
                landed_month.month
            ]
            for _ in range(2)
        ]
        indexes = _month_indexes(conn)
        held = engine.month_row_counts(conn, SCHEMA, trips_table(YELLOW), [landed_month.month])[
            landed_month.month
        ]
    assert list(indexes) == ["yellow_trips_source_month_brin"]
    assert "USING brin (source_month)" in indexes["yellow_trips_source_month_brin"]
    assert landed == [rows, rows] and held == rows


def test_ensuring_a_table_already_in_shape_does_not_wait_for_its_readers(
    local_resources: dict[str, Any],
) -> None:
    """Two mart months built at once each ensure the trip tables the other is reading: a
    table already in shape must not be altered, or the two deadlock."""
    postgres = local_resources["postgres"]
    schema = "ensure_locks"
    with postgres.connect() as reader, postgres.connect() as other:
        engine.ensure_trips_table(reader, schema, YELLOW)
        reader.commit()
        table = sql.Identifier(schema, trips_table(YELLOW))
        reader.execute(sql.SQL("SELECT count(*) FROM {}").format(table))  # holds its read lock
        other.execute("SET lock_timeout = '2s'")

        engine.ensure_trips_table(other, schema, YELLOW)  # before: timed out on the lock

        reader.rollback()
