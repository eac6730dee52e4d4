"""taxi_platform's own code paths for the benchmarked steps: the functions the assets call.

Nothing here re-implements a step: `csv_to_parquet` is what `clean/{ds}/trips_parquet`
calls, `lib.warehouse.postgres.replace_month` what `postgres/taxi/{ds}_trips` calls. The PostgreSQL
connection is opened with psycopg as `PostgresResource.connect` does, without importing
Dagster, so the step's peak RSS is the data work's.
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg

from devstack.sample_data import write_month
from taxi_platform.catalog import YELLOW
from taxi_platform.lib.lake import csv_to_parquet as platform_csv_to_parquet
from taxi_platform.lib.warehouse import postgres as postgres_engine


def generate(month: str, rows: int, out_dir: str) -> dict[str, int | str]:
    """A yellow month of `rows` trips from the sample generator; returns its path."""
    path = write_month(YELLOW, month, rows, Path(out_dir))
    return {"rows": rows, "path": str(path), "bytes": path.stat().st_size}


def csv_to_parquet(src: str, dst: str, month: str) -> dict[str, int]:
    """raw CSV.gz -> typed zstd parquet, as the lake asset does it."""
    report = platform_csv_to_parquet(Path(src), Path(dst), YELLOW, month)
    return {"rows": report.rows_written, "rows_read": report.rows_read}


def _connect() -> psycopg.Connection:
    return psycopg.connect(
        host=os.environ["PG_HOST"],
        port=int(os.environ["PG_PORT"]),
        user=os.environ["PG_USER"],
        password=os.environ["PG_PASSWORD"],
        dbname=os.environ["PG_DATABASE"],
        connect_timeout=10,
        application_name="taxi_platform_benchmark",
    )


def postgres(src: str, schema: str, month: str) -> dict[str, int]:
    """lake parquet -> PostgreSQL: DELETE the month + COPY, as the PostgreSQL asset does it."""
    with _connect() as conn:
        rows = postgres_engine.replace_month(conn, schema, YELLOW, month, Path(src))
    return {"rows": rows}
