"""PostgreSQL: the only module that talks to it. Ensures schemas and tables, replaces a month of
the trip tables and of the mart in one transaction, replaces the zone table, counts rows.

A month's DELETE and its new rows commit together, serialised per table and month by an
advisory lock, so readers (and a process killed mid-COPY) see the previous complete month or
the new one, never a mix; re-running replaces the month again rather than appending. DDL is
serialised by one advisory lock. The schema name comes from configuration: it is validated
before any statement runs and quoted as an identifier; values are bound parameters.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

import psycopg
import pyarrow.csv as pacsv
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from taxi_platform.catalog import (
    MART_TABLE,
    POSTGRES_TYPES,
    SOURCE_MONTH,
    VERSION_COLUMNS,
    VERSIONS_TABLE,
    ZONE_COLUMNS,
    ZONE_TABLE,
    Kind,
    TaxiDataset,
    trips_table,
)
from taxi_platform.lib import marts
from taxi_platform.lib.files import open_parquet
from taxi_platform.lib.identifiers import lake_version, sql_name
from taxi_platform.lib.months import month_start
from taxi_platform.lib.source import verify_zone_lookup
from taxi_platform.lib.warehouse.sink import LakeMonth

COPY_BATCH_ROWS = 200_000
DIALECT = "postgres"
_DDL_LOCK = "taxi_platform.ddl"


def _schema(schema: str) -> str:
    return sql_name(schema, "PostgreSQL schema")


def _table(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(_schema(schema), table)


def _ensure_table(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    columns: list[tuple[str, Kind]],
    *,
    primary_key: str | None = None,
) -> None:
    """Create the schema and the table (with a month index, or a primary key) if missing, add
    the columns it lacks (history is not reloaded: older rows hold null there), and convert
    `timestamptz` columns to wall-clock `timestamp`. A table that needs none of it is not
    altered, so no lock is taken on it that would wait for (or deadlock with) a reader."""
    definition = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(POSTGRES_TYPES[kind]))
        for name, kind in columns
    )
    if primary_key:
        definition = sql.SQL("{}, PRIMARY KEY ({})").format(definition, sql.Identifier(primary_key))
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_DDL_LOCK,))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(_table(schema, table), definition)
        )
        present = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (schema, table),
            ).fetchall()
        )
        for name, kind in columns:
            if name not in present:
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                        _table(schema, table), sql.Identifier(name), sql.SQL(POSTGRES_TYPES[kind])
                    )
                )
        zoned = [name for name, kind in present.items() if kind == "timestamp with time zone"]
        _to_wall_clock(conn, schema, table, zoned)
        if not primary_key:
            _ensure_month_index(conn, schema, table)


def _ensure_month_index(conn: psycopg.Connection, schema: str, table: str) -> None:
    """A BRIN index on the month column: a month's rows arrive together, so block ranges find
    them for the DELETE, and COPY pays almost nothing to maintain it (a B-tree, which tables
    made before had, costs a COPY about a fifth of its speed)."""
    b_tree, brin = f"{table}_{SOURCE_MONTH.name}_idx", f"{table}_{SOURCE_MONTH.name}_brin"
    present = {
        name
        for (name,) in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
            (schema, table),
        )
    }
    if b_tree in present:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, b_tree)))
    if brin not in present:
        conn.execute(
            sql.SQL("CREATE INDEX {} ON {} USING brin ({})").format(
                sql.Identifier(brin), _table(schema, table), sql.Identifier(SOURCE_MONTH.name)
            )
        )


def _to_wall_clock(conn: psycopg.Connection, schema: str, table: str, zoned: list[str]) -> None:
    """Convert the table's `timestamptz` columns `zoned` (tables created before timestamps were
    wall-clock) to `timestamp`: the UTC-labelled values keep their digits."""
    if zoned:
        conn.execute(
            sql.SQL("ALTER TABLE {} {}").format(
                _table(schema, table),
                sql.SQL(", ").join(
                    sql.SQL("ALTER COLUMN {0} TYPE timestamp USING {0} AT TIME ZONE 'UTC'").format(
                        sql.Identifier(name)
                    )
                    for name in zoned
                ),
            )
        )


def ensure_trips_table(conn: psycopg.Connection, schema: str, ds: TaxiDataset) -> None:
    columns = [(c.name, c.kind) for c in ds.landed_columns]
    _ensure_table(conn, _schema(schema), trips_table(ds), columns)


def table_exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    qualified = f'"{_schema(schema)}"."{table}"'
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified,)).fetchone()[0]


def month_row_counts(
    conn: psycopg.Connection, schema: str, table: str, months: Sequence[str]
) -> dict[str, int]:
    """Rows of each of `months` in a month-partitioned table (0: none)."""
    query = sql.SQL("SELECT {month}, count(*) FROM {} WHERE {month} = ANY(%s) GROUP BY 1").format(
        _table(schema, table), month=sql.Identifier(SOURCE_MONTH.name)
    )
    found = dict(conn.execute(query, ([month_start(m) for m in months],)).fetchall())
    conn.commit()
    return {month: found.get(month_start(month), 0) for month in months}


def table_row_count(conn: psycopg.Connection, schema: str, table: str) -> int:
    query = sql.SQL("SELECT count(*) FROM {}").format(_table(schema, table))
    return conn.execute(query).fetchone()[0]


def _replace_months(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    months: Sequence[str],
    fill: Callable[[psycopg.Cursor, str], None],
    versions: Mapping[str, str | None] | None = None,
) -> None:
    """DELETE each of `months` from `table` and `fill` it again, all in one transaction under
    the months' locks (taken in month order); the same transaction records each month's
    version in `versions` as the one the month holds."""
    conn.commit()  # end any implicit transaction: the swap below is its own
    with conn.transaction(), conn.cursor() as cursor:
        for month in sorted(months):
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                (f"{_schema(schema)}.{table}:{month}",),
            )
        for month in months:
            cursor.execute(
                sql.SQL("DELETE FROM {} WHERE {} = %s").format(
                    _table(schema, table), sql.Identifier(SOURCE_MONTH.name)
                ),
                (month_start(month),),
            )
            fill(cursor, month)
            if (version := (versions or {}).get(month)) is not None:
                _record_version(cursor, schema, table, month, version)


def _record_version(
    cursor: psycopg.Cursor, schema: str, table: str, month: str, version: str
) -> None:
    versions = _table(schema, VERSIONS_TABLE)
    key = (table, month_start(month))
    cursor.execute(
        sql.SQL("DELETE FROM {} WHERE table_name = %s AND source_month = %s").format(versions),
        key,
    )
    cursor.execute(
        sql.SQL(
            "INSERT INTO {} (table_name, source_month, version, loaded_at)"
            " VALUES (%s, %s, %s, (now() AT TIME ZONE 'UTC'))"
        ).format(versions),
        (*key, lake_version(version)),
    )


def ensure_versions_table(conn: psycopg.Connection, schema: str) -> None:
    columns = [(c.name, c.kind) for c in VERSION_COLUMNS]
    _ensure_table(conn, _schema(schema), VERSIONS_TABLE, columns)


def held_versions(
    conn: psycopg.Connection, schema: str, table: str, months: Sequence[str]
) -> dict[str, str | None]:
    """The lake version of each of `months` that `table` holds (None: not recorded)."""
    ensure_versions_table(conn, schema)
    query = sql.SQL(
        "SELECT source_month, version FROM {} WHERE table_name = %s AND source_month = ANY(%s)"
    ).format(_table(schema, VERSIONS_TABLE))
    found = dict(conn.execute(query, (table, [month_start(m) for m in months])).fetchall())
    conn.commit()
    return {month: found.get(month_start(month)) for month in months}


def copy_parquet(
    cursor: psycopg.Cursor, target: sql.Identifier, ds: TaxiDataset, path: Path
) -> int:
    """Stream the parquet file's canonical columns into `target` with COPY (CSV), one batch at
    a time (columns the schema does not know stay in the lake); return the rows the server
    reports copied."""
    names = [c.name for c in ds.landed_columns]
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in names)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(target, columns)
    options = pacsv.WriteOptions(include_header=False)
    # The queued writer lets the client format the next batch while the server parses one.
    with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        for batch in open_parquet(path).iter_batches(COPY_BATCH_ROWS, columns=names):
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, options)
            copy.write(buffer.getbuffer())
    return cursor.rowcount


def replace_months(
    conn: psycopg.Connection, schema: str, ds: TaxiDataset, files: Sequence[LakeMonth]
) -> dict[str, int]:
    """Make each month of the trip table exactly the rows of its lake file, and record its
    version, all in one transaction; return each month's rows after commit."""
    ensure_trips_table(conn, schema, ds)
    if any(f.version is not None for f in files):
        ensure_versions_table(conn, schema)
    table = trips_table(ds)
    paths = {f.month: f.path for f in files}
    _replace_months(
        conn,
        schema,
        table,
        list(paths),
        lambda cursor, month: copy_parquet(cursor, _table(schema, table), ds, paths[month]),
        {f.month: f.version for f in files},
    )
    return month_row_counts(conn, schema, table, list(paths))


def replace_zones(conn: psycopg.Connection, schema: str, src: Path) -> int:
    """Replace the zone table with the lake CSV in one transaction; return its rows.
    A CSV that is not the lookup, or holds no zone, is refused before the table is touched."""
    verify_zone_lookup(src)
    columns = [(c.name, c.kind) for c in ZONE_COLUMNS]
    _ensure_table(conn, _schema(schema), ZONE_TABLE, columns, primary_key=ZONE_COLUMNS[0].name)
    table = _table(schema, ZONE_TABLE)
    copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, HEADER true)").format(
        table, sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns)
    )
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(sql.SQL("DELETE FROM {}").format(table))
        with cursor.copy(copy) as writer, src.open("rb") as data:
            while chunk := data.read(1 << 16):
                writer.write(chunk)
    return table_row_count(conn, schema, ZONE_TABLE)


def mart_month_summary(conn: psycopg.Connection, schema: str, month: str) -> marts.MonthSummary:
    query = sql.SQL(marts.SUMMARY_SQL).format(table=_table(schema, MART_TABLE), month=sql.SQL("%s"))
    result = conn.execute(query, (month_start(month),)).fetchall()
    return marts.MonthSummary(
        rows={r[0]: r[1] for r in result},
        trips={r[0]: int(r[2]) for r in result},
        revenue={r[0]: r[3] or 0.0 for r in result},
    )


def replace_mart_month(
    conn: psycopg.Connection, schema: str, month: str
) -> tuple[marts.MonthSummary, tuple[TaxiDataset, ...]]:
    """Rebuild `month` of the mart; return its summary and the datasets it was built from."""
    sources = marts.mart_sources(partial(table_exists, conn, schema), _schema(schema))
    for ds in sources:  # the query reads their current types (wall-clock pickups)
        ensure_trips_table(conn, schema, ds)
    _ensure_table(conn, _schema(schema), MART_TABLE, [(c.name, c.kind) for c in marts.COLUMNS])
    names = [ZONE_TABLE, *(trips_table(ds) for ds in sources)]
    select = marts.month_select(month, sources, DIALECT, {n: (_schema(schema),) for n in names})
    insert = sql.SQL("INSERT INTO {} ({}) {}").format(
        _table(schema, MART_TABLE),
        sql.SQL(", ").join(sql.Identifier(c) for c in marts.COLUMN_NAMES),
        sql.SQL(select),  # rendered by SQLGlot from validated names and a validated month
    )

    _replace_months(conn, schema, MART_TABLE, [month], lambda cursor, _: cursor.execute(insert))
    return mart_month_summary(conn, schema, month), sources
