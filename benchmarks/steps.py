"""taxi_platform's own code paths for the measured steps, each run in its own process by
`benchmarks.measure.run_step`; and the practical bounds they are compared with.

Nothing here re-implements a step: each calls the function the asset calls. Every function
imports what it needs itself, so a step's peak RSS is its own work's: the PostgreSQL steps
connect without Dagster, and only `one_month` imports it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from benchmarks import Postgres

FHVHV_MONTH = "2025-01"  # the month the memory benchmark measures
SEED_ROWS = 500_000


def generate(month: str, rows: int, out_dir: str) -> dict[str, int | str]:
    """A yellow month of `rows` trips from the sample generator; returns its path."""
    from devstack.sample_data import write_month
    from taxi_platform.catalog import YELLOW

    path = write_month(YELLOW, month, rows, Path(out_dir))
    return {"rows": rows, "path": str(path), "bytes": path.stat().st_size}


def csv_to_parquet(src: str, dst: str, month: str) -> dict[str, int]:
    """raw CSV.gz -> typed zstd parquet, as the lake asset does it."""
    from taxi_platform.catalog import YELLOW
    from taxi_platform.lib.lake import csv_to_parquet as clean

    report = clean(Path(src), Path(dst), YELLOW, month)
    return {"rows": report.rows_written, "rows_read": report.rows_read}


def postgres(src: str, schema: str, dataset: str, month: str) -> dict[str, int]:
    """lake parquet -> PostgreSQL (DELETE the month + COPY), as the PostgreSQL asset does it."""
    from taxi_platform.catalog import DATASETS_BY_NAME
    from taxi_platform.lib.warehouse.postgres import replace_months
    from taxi_platform.lib.warehouse.sink import LakeMonth

    with Postgres.from_env().connect() as conn:
        counts = replace_months(
            conn, schema, DATASETS_BY_NAME[dataset], [LakeMonth(month, Path(src), uri="")]
        )
    return {"rows": counts[month]}


def make_month(rows: int, out_dir: str) -> dict[str, Any]:
    """An official-layout fhvhv month of `rows` rows: the seed month's row groups repeated (a
    generated file with official row-group sizes, so generating it stays fast and bounded)."""
    from devstack.tlc_parquet import write_official_month
    from taxi_platform.catalog import FHVHV, TLC

    seed = write_official_month(
        FHVHV.name, FHVHV_MONTH, min(rows, SEED_ROWS), Path(out_dir) / "seed"
    )
    path = Path(out_dir) / f"{rows}" / TLC.file_name(FHVHV, FHVHV_MONTH)
    path.parent.mkdir(parents=True, exist_ok=True)
    source = pq.ParquetFile(seed)
    written = 0
    with pq.ParquetWriter(path, source.schema_arrow, compression="snappy") as writer:
        while written < rows:
            for group in range(source.num_row_groups):
                table = source.read_row_group(group)[: rows - written]
                writer.write_table(table)
                written += table.num_rows
                if written >= rows:
                    break
    return {"rows": written, "bytes": path.stat().st_size, "path": str(path)}


def lake(src: str, dst: str) -> dict[str, int]:
    """parquet -> canonical lake parquet, as the lake asset does it."""
    from taxi_platform.catalog import FHVHV
    from taxi_platform.lib.lake_parquet import parquet_to_parquet

    report = parquet_to_parquet(Path(src), Path(dst), FHVHV, FHVHV_MONTH)
    return {"rows": report.rows_written}


def plain_pyarrow(src: str, dst: str) -> dict[str, int]:
    """The bound: read the file batch by batch and write it again, no cleaning."""
    source = pq.ParquetFile(src)
    rows = 0
    with pq.ParquetWriter(dst, source.schema_arrow, compression="zstd") as writer:
        for batch in source.iter_batches(128_000):
            writer.write_batch(batch)
            rows += batch.num_rows
    return {"rows": rows}


def download(url: str, dst: str) -> dict[str, int]:
    """source -> raw file, as the raw asset does it (streamed, verified, atomic)."""
    import logging

    import requests

    from taxi_platform.lib.source import download as fetch
    from taxi_platform.lib.source import verify_parquet

    with requests.Session() as session:
        fetch(
            session,
            url,
            Path(dst),
            timeout=60,
            attempts=3,
            backoff=1,
            log=logging.getLogger(__name__),
            verify=verify_parquet,
        )
    return {"rows": pq.ParquetFile(dst).metadata.num_rows}


def gcs(src: str) -> dict[str, int]:
    """lake parquet -> the GCS bucket, as the GCS asset does it."""
    import os

    from google.cloud import storage

    from taxi_platform.lib.gcs import upload_if_changed

    client = storage.Client(project=os.environ["GCP_PROJECT"])
    upload_if_changed(client, os.environ["GCS_BUCKET"], f"bench/{Path(src).name}", Path(src))
    return {"rows": pq.ParquetFile(src).metadata.num_rows}


def make_csv(src: str, dst: str) -> dict[str, int]:
    """The lake file's canonical columns as a CSV file, for the bare COPY bound."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from taxi_platform.catalog import FHVHV

    names = [c.name for c in FHVHV.landed_columns]
    schema = pq.read_schema(src)
    fields = [schema.field(name) for name in names]
    options = pacsv.WriteOptions(include_header=False)
    with pacsv.CSVWriter(dst, pa.schema(fields), write_options=options) as out:
        for batch in pq.ParquetFile(src).iter_batches(200_000, columns=names):
            out.write_batch(batch)
    return {"rows": pq.ParquetFile(src).metadata.num_rows}


def bare_copy(csv: str, schema: str) -> dict[str, int]:
    """The bound: COPY a ready CSV file into an empty table of the same columns, nothing else."""
    from psycopg import sql

    from taxi_platform.catalog import FHVHV
    from taxi_platform.lib.warehouse.postgres import ensure_trips_table

    names = [c.name for c in FHVHV.landed_columns]
    table = sql.Identifier(schema, "bare_copy")
    with Postgres.from_env().connect() as conn:
        ensure_trips_table(conn, schema, FHVHV)
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        trips = sql.Identifier(schema, "fhvhv_trips")
        conn.execute(sql.SQL("CREATE TABLE {} (LIKE {})").format(table, trips))
        columns = sql.SQL(", ").join(map(sql.Identifier, names))
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(table, columns)
        with conn.cursor() as cur, cur.copy(statement) as copy, open(csv, "rb") as f:
            while chunk := f.read(1 << 20):
                copy.write(chunk)
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0]
        conn.execute(sql.SQL("DROP TABLE {}").format(table))
    return {"rows": rows}


def run_timeline(entries: Sequence[Any]) -> dict[str, Any]:
    """Event times of one run from its event log: each step lasts from STEP_START to its
    STEP_SUCCESS or STEP_FAILURE; the run's milestones (enqueued, dequeued, starting, start,
    first step start, end) and its status; each step's materialization metadata."""
    import dagster as dg

    kinds = dg.DagsterEventType
    milestone_kinds = {kinds.RUN_ENQUEUED, kinds.RUN_DEQUEUED, kinds.RUN_STARTING, kinds.RUN_START}
    ends = {kinds.RUN_SUCCESS, kinds.RUN_FAILURE, kinds.RUN_CANCELED}
    starts: dict[str, float] = {}
    steps: dict[str, float] = defaultdict(float)
    milestones: dict[str, Any] = {}
    metadata: dict[str, dict[str, Any]] = {}
    for entry in entries:
        kind = entry.dagster_event.event_type if entry.dagster_event else None
        if kind == kinds.STEP_START:
            starts[entry.step_key] = entry.timestamp
            milestones.setdefault("FIRST_STEP_START", entry.timestamp)
        elif kind in (kinds.STEP_SUCCESS, kinds.STEP_FAILURE) and entry.step_key in starts:
            steps[entry.step_key] += entry.timestamp - starts.pop(entry.step_key)
        elif kind == kinds.ASSET_MATERIALIZATION:
            values = entry.asset_materialization.metadata
            metadata[entry.step_key] = {k: getattr(v, "value", v) for k, v in values.items()}
        elif kind in milestone_kinds:
            milestones.setdefault(kind.name, entry.timestamp)
        elif kind in ends:
            milestones["RUN_END"] = entry.timestamp
            milestones["status"] = kind.name
    return {"steps": dict(steps), "milestones": milestones, "metadata": metadata}


def one_month(month: str) -> dict[str, Any]:
    """Materialize every yellow layer for `month` on the local services; per-layer times."""
    import dagster as dg

    from taxi_platform.catalog import COURSE_MIRROR, LAYERS, YELLOW, trip_key
    from taxi_platform.defs.partitions import monthly_partitions
    from taxi_platform.defs.resources import resources_for
    from taxi_platform.defs.trips import build_trip_assets

    instance = dg.DagsterInstance.ephemeral()
    started = time.perf_counter()
    result = dg.materialize(
        build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR),
        partition_key=month,
        resources=resources_for("local"),
        instance=instance,
    )
    materialize_seconds = time.perf_counter() - started
    if not result.success:
        raise RuntimeError(f"materializing yellow {month} failed")
    timeline = run_timeline(instance.all_logs(result.run_id))
    layer_of = {dg.AssetKey(trip_key(YELLOW, lay)).to_python_identifier(): lay for lay in LAYERS}
    layers = [
        {
            "layer": layer_of.get(step, step),
            "step_seconds": seconds,
            "asset_seconds": timeline["metadata"].get(step, {}).get("seconds"),
            "rows": timeline["metadata"].get(step, {}).get("dagster/row_count"),
            "bytes": timeline["metadata"].get(step, {}).get("bytes"),
        }
        for step, seconds in timeline["steps"].items()
    ]
    layers.sort(key=lambda row: LAYERS.index(row["layer"]) if row["layer"] in LAYERS else 99)
    milestones = timeline["milestones"]
    return {
        "month": month,
        "layers": layers,
        "run_seconds": milestones["RUN_END"] - milestones["RUN_START"],
        "materialize_seconds": materialize_seconds,
    }
