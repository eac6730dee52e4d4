"""Peak memory per step does not grow with the month: an official-layout fhvhv month of N rows
through every layer the client does work in (download from the local mirror, parquet -> lake,
lake -> GCS, lake -> PostgreSQL), each step in a fresh process, against the same steps on a
month a tenth the size; with the practical speed bounds measured in the same run: a plain
pyarrow read-and-write of the same file, and a bare COPY of the same rows from a CSV file.
(BigQuery loads the month server-side from GCS: the client only waits, so there is no
client-side step to measure; the emulator's own load speed says nothing about BigQuery's.)

    python -m benchmarks.memory [--rows 2000000 20000000] [--out benchmarks/results]

The big month is the small month's row groups written again until it has N rows (a generated
file, official layout, official row-group sizes), so generating it stays fast and bounded.
Writes memory.json and memory.md into --out.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.measure import REPO_ROOT, Measurement, run_step
from devstack.services import running_services
from devstack.tlc_parquet import write_official_month
from taxi_platform.catalog import FHVHV, TLC
from taxi_platform.lib.lake_parquet import parquet_to_parquet
from taxi_platform.lib.warehouse import postgres as postgres_engine

MONTH = "2025-01"
SEED_ROWS = 500_000
SCHEMA = "bench_memory"


def make_month(rows: int, out_dir: str) -> dict[str, Any]:
    """An official-layout fhvhv month of `rows` rows: the seed month's row groups repeated."""
    seed = write_official_month(FHVHV.name, MONTH, min(rows, SEED_ROWS), Path(out_dir) / "seed")
    path = Path(out_dir) / f"{rows}" / TLC.file_name(FHVHV, MONTH)
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
    report = parquet_to_parquet(Path(src), Path(dst), FHVHV, MONTH)
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
    import pyarrow.csv as pacsv

    names = [c.name for c in FHVHV.landed_columns]
    options = pacsv.WriteOptions(include_header=False)
    schema = pq.read_schema(src)
    fields = [schema.field(name) for name in names]
    with pacsv.CSVWriter(dst, pa.schema(fields), write_options=options) as out:
        for batch in pq.ParquetFile(src).iter_batches(200_000, columns=names):
            out.write_batch(batch)
    return {"rows": pq.ParquetFile(src).metadata.num_rows}


def bare_copy(csv: str) -> dict[str, int]:
    """The bound: COPY a ready CSV file into an empty table of the same columns, nothing else."""
    from psycopg import sql

    from benchmarks.platform_steps import _connect

    names = [c.name for c in FHVHV.landed_columns]
    table = sql.Identifier(SCHEMA, "bare_copy")
    with _connect() as conn:
        postgres_engine.ensure_trips_table(conn, SCHEMA, FHVHV)
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE {})").format(
                table, sql.Identifier(SCHEMA, "fhvhv_trips")
            )
        )
        columns = sql.SQL(", ").join(map(sql.Identifier, names))
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(table, columns)
        with conn.cursor() as cur, cur.copy(statement) as copy, open(csv, "rb") as f:
            while chunk := f.read(1 << 20):
                copy.write(chunk)
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0]
        conn.execute(sql.SQL("DROP TABLE {}").format(table))
    return {"rows": rows}


def postgres(src: str) -> dict[str, int]:
    """lake parquet -> PostgreSQL (DELETE the month + COPY), as the PostgreSQL asset does it."""
    from benchmarks.platform_steps import _connect

    with _connect() as conn:
        rows = postgres_engine.replace_month(conn, SCHEMA, FHVHV, MONTH, Path(src))
    return {"rows": rows}


def _row(name: str, rows: int, m: Measurement) -> dict[str, Any]:
    return {
        "step": name,
        "rows": rows,
        "seconds": round(m.seconds, 2),
        "rows_per_second": round(rows / m.seconds),
        "peak_rss_mb": round(m.peak_rss_mb, 1),
    }


def measure(sizes: Sequence[int], work: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    mirror = Path(env["TAXI_LAKE_DIR"]).parent / "mirror"
    for size in sizes:
        made = run_step("benchmarks.memory", "make_month", {"rows": size, "out_dir": str(work)})
        src, dst = made.result["path"], str(work / f"{size}" / "lake.parquet")
        served = mirror / f"{size}" / Path(src).name
        served.parent.mkdir(parents=True, exist_ok=True)
        served.unlink(missing_ok=True)
        served.hardlink_to(src)
        url = f"{env['TLC_BASE_URL'].rstrip('/')}/{size}/{served.name}"
        csv = str(work / f"{size}" / "lake.csv")
        steps = {
            "source -> raw": ("download", {"url": url, "dst": str(served.with_suffix(".raw"))}),
            "parquet -> lake": ("lake", {"src": src, "dst": dst}),
            "plain pyarrow read+write": ("plain_pyarrow", {"src": src, "dst": dst + ".plain"}),
            "lake -> GCS": ("gcs", {"src": dst}),
            "lake -> PostgreSQL": ("postgres", {"src": dst}),
            "bare COPY of the same rows": ("bare_copy", {"csv": csv}),
        }
        for name, (function, kwargs) in steps.items():
            if function == "bare_copy":  # its CSV file, made outside the measured step
                run_step("benchmarks.memory", "make_csv", {"src": dst, "dst": csv}, env=env)
            m = run_step("benchmarks.memory", function, kwargs, env=env)
            rows.append(_row(name, size, m))
    return rows


def report(rows: list[dict[str, Any]], sizes: Sequence[int]) -> str:
    small, big = min(sizes), max(sizes)
    by = {(r["step"], r["rows"]): r for r in rows}
    lines = [
        "# Memory per step: an fhvhv month of "
        f"{big:,} rows against one of {small:,} (`python -m benchmarks.memory`)",
        "",
        "| step | rows | seconds | rows/s | peak RSS MiB | peak vs small month |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r["peak_rss_mb"] / by[(r["step"], small)]["peak_rss_mb"]
        lines.append(
            f"| {r['step']} | {r['rows']:,} | {r['seconds']} | {r['rows_per_second']:,}"
            f" | {r['peak_rss_mb']} | {ratio:.2f}x |"
        )
    lake, plain = by[("parquet -> lake", big)], by[("plain pyarrow read+write", big)]
    speed = lake["rows_per_second"] / plain["rows_per_second"]
    pg, copy = by[("lake -> PostgreSQL", big)], by[("bare COPY of the same rows", big)]
    load = pg["rows_per_second"] / copy["rows_per_second"]
    lines += [
        "",
        f"parquet -> lake runs at {speed:.2f}x the rows/s of a plain pyarrow copy (target ≥ 0.7x);"
        f" lake -> PostgreSQL at {load:.2f}x a bare COPY of the same rows (target ≥ 0.8x).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[2_000_000, 20_000_000])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, running_services(Path(tmp) / "stack") as env:
        rows = measure(args.rows, Path(tmp), env)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "memory.json").write_text(json.dumps(rows, indent=2) + "\n")
    text = report(rows, args.rows)
    (args.out / "memory.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
