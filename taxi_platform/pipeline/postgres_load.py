"""Replace one month of a PostgreSQL table from a lake parquet file, in one transaction.

The month's DELETE and its COPY commit together, so readers (and a process killed mid-COPY)
see the previous complete month or the new one, never a mix; re-running replaces the month
again rather than appending. The schema name comes from configuration: it is validated before
any statement runs and quoted as an identifier; values are bound parameters.
"""

from __future__ import annotations

import io
from pathlib import Path

import psycopg
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from taxi_platform.datasets import POSTGRES_TYPES, SOURCE_MONTH, TaxiDataset
from taxi_platform.identifiers import sql_name
from taxi_platform.months import month_start
from taxi_platform.paths import table_name

COPY_BATCH_ROWS = 200_000


def _schema(schema: str) -> str:
    return sql_name(schema, "PostgreSQL schema")


def _table(schema: str, ds: TaxiDataset) -> sql.Identifier:
    return sql.Identifier(_schema(schema), table_name(ds))


def ensure_table(conn: psycopg.Connection, schema: str, ds: TaxiDataset) -> None:
    """Create the schema, the table and its month index if missing (serialised by a lock)."""
    schema = _schema(schema)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('taxi_platform.ddl'))")
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(POSTGRES_TYPES[c.kind]))
        for c in ds.landed_columns
    )
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(_table(schema, ds), columns))
    conn.execute(
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
            sql.Identifier(f"{table_name(ds)}_{SOURCE_MONTH.name}_idx"),
            _table(schema, ds),
            sql.Identifier(SOURCE_MONTH.name),
        )
    )


def month_row_count(conn: psycopg.Connection, schema: str, ds: TaxiDataset, month: str) -> int:
    schema = _schema(schema)
    query = sql.SQL("SELECT count(*) FROM {} WHERE {} = %s").format(
        _table(schema, ds), sql.Identifier(SOURCE_MONTH.name)
    )
    return conn.execute(query, (month_start(month),)).fetchone()[0]


def copy_parquet(
    cursor: psycopg.Cursor, target: sql.Identifier, ds: TaxiDataset, path: Path
) -> None:
    """Stream the parquet file into `target` with COPY (CSV), one batch at a time."""
    columns = sql.SQL(", ").join(sql.Identifier(c.name) for c in ds.landed_columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(target, columns)
    options = pacsv.WriteOptions(include_header=False)
    # The queued writer lets the client format the next batch while the server parses one.
    with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=COPY_BATCH_ROWS):
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, options)
            copy.write(buffer.getbuffer())


def replace_month(
    conn: psycopg.Connection, schema: str, ds: TaxiDataset, month: str, path: Path
) -> int:
    """Make the table's `month` exactly the rows of `path`; return its row count."""
    schema = _schema(schema)
    first_day = month_start(month)
    ensure_table(conn, schema, ds)
    conn.commit()
    target = _table(schema, ds)
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{schema}.{table_name(ds)}:{month}",)
        )
        cursor.execute(
            sql.SQL("DELETE FROM {} WHERE {} = %s").format(
                target, sql.Identifier(SOURCE_MONTH.name)
            ),
            (first_day,),
        )
        copy_parquet(cursor, target, ds, path)
    return month_row_count(conn, schema, ds, month)
