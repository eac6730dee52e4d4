"""The mart is one query: rendered for each engine with the same columns, reading each
engine's qualified tables, and its lineage read from the query."""

from __future__ import annotations

import pytest
import sqlglot

from taxi_platform.catalog import GREEN, YELLOW, ZONE_TABLE
from taxi_platform.lib import marts

QUALIFIED = {
    "bigquery": {t: ("taxi-local", "taxi") for t in ("yellow_trips", "green_trips", ZONE_TABLE)},
    "postgres": {t: ("taxi",) for t in ("yellow_trips", "green_trips", ZONE_TABLE)},
}


@pytest.mark.parametrize("dialect", ["bigquery", "postgres"])
def test_each_engine_gets_the_mart_columns_in_order(dialect: str) -> None:
    sql = marts.month_select("2021-01", (YELLOW, GREEN), dialect, QUALIFIED[dialect])

    tree = sqlglot.parse_one(sql, read=dialect)
    assert [s.alias_or_name for s in tree.selects] == list(marts.COLUMN_NAMES)
    tables = {".".join(p.name for p in t.parts) for t in tree.find_all(sqlglot.exp.Table)}
    assert tables == {".".join([*QUALIFIED[dialect][t], t]) for t in QUALIFIED[dialect]}


def test_the_month_bounds_are_the_partition_month() -> None:
    sql = marts.month_select("2021-12", (YELLOW,), "postgres", QUALIFIED["postgres"])

    assert "'2021-12-01 00:00:00'" in sql and "'2022-01-01 00:00:00'" in sql
    assert "green_trips" not in sql


@pytest.mark.parametrize(
    ("dialect", "wall_clock"), [("bigquery", "DATETIME"), ("postgres", "TIMESTAMP")]
)
def test_the_month_bounds_are_wall_clock_times_without_a_zone(
    dialect: str, wall_clock: str
) -> None:
    sql = marts.month_select("2021-12", (YELLOW,), dialect, QUALIFIED[dialect])

    assert f"CAST('2021-12-01 00:00:00' AS {wall_clock})" in sql
    assert "+00" not in sql and "TIMESTAMPTZ" not in sql.upper()


def test_a_bad_month_is_refused() -> None:
    with pytest.raises(ValueError, match="not a YYYY-MM month"):
        marts.month_select("2021-01'; DROP TABLE x; --", (YELLOW,), "postgres", {})


def test_lineage_is_read_from_the_query() -> None:
    lineage = marts.column_lineage()

    assert lineage["pickup_borough"] == [(ZONE_TABLE, "borough")]
    assert {("green_trips", "total_amount"), ("yellow_trips", "total_amount")} <= set(
        lineage["total_amount"]
    )
    assert ("fhvhv_trips", "base_passenger_fare") in lineage["total_amount"]
    assert not any(table == "fhv_trips" for table, _ in lineage["total_amount"])
    assert "service_type" not in lineage  # a literal per dataset: no input column
