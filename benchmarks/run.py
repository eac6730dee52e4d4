"""Benchmark taxi_platform against the course pipeline on the same machine and input.

    python -m benchmarks.run [--sizes 1400000 7000000] [--backfill-rows 50000]
                             [--skip-backfill] [--out benchmarks/results]

One run starts its own local services (PostgreSQL, GCS and BigQuery emulators, HTTP mirror)
in `--work`/stack, and then:

1. generates a yellow month per size with the sample generator;
2. per size, runs each step in a fresh process (wall time, rows/s, peak RSS of that process):
   raw CSV.gz -> parquet (course: `pd.read_csv` + `to_parquet(gzip)`; platform:
   `csv_to_parquet`) and parquet -> PostgreSQL (course: `to_sql(chunksize=100000)`, capped on
   big months and extrapolated; platform: `lib.warehouse.postgres.replace_month`, i.e. COPY);
3. materializes one month (the first size) through every layer with `dg.materialize` and
   reports each layer's step time;
4. backfills 12 months x yellow + green through `dg dev` (one GraphQL backfill) and
   reports months/minute and Dagster's share of the time;
5. writes results.md, results.png and results.json to `--out`, and stops the services.

`python -m benchmarks.report [--out DIR]` re-renders results.md and results.png from a run's
results.json without measuring again.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from benchmarks.measure import REPO_ROOT, Measurement, run_step
from benchmarks.report import write_report
from devstack.dagster_ui import (
    launch_backfill,
    start_ui,
    stop_ui,
    wait_backfill,
)
from devstack.services import running_services, stop_services
from taxi_platform.catalog import COURSE_MIRROR, GREEN, YELLOW
from taxi_platform.defs.trips import trip_asset_keys

DEFAULT_SIZES = (1_400_000, 7_000_000)
DEFAULT_BACKFILL_ROWS = 50_000
DEFAULT_TO_SQL_CAP = 1_000_000
DEFAULT_TO_SQL_CAP_ABOVE = 2_000_000
BENCH_MONTH = "2021-01"
BACKFILL_MONTHS = [f"2020-{m:02d}" for m in range(1, 13)]
BACKFILL_DATASETS = (YELLOW, GREEN)
COURSE_SCHEMA = "bench_course"
PLATFORM_SCHEMA = "bench_platform"


def _log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def _step(m: Measurement, rows: int) -> dict[str, Any]:
    return {
        "rows": rows,
        "seconds": m.seconds,
        "rows_per_s": rows / m.seconds if m.seconds else None,
        "peak_rss_mb": m.peak_rss_mb,
        "import_rss_mb": m.import_rss_bytes / 2**20,
        "load_before": m.load_before,
        "load_after": m.load_after,
    }


def _capped_step(m: Measurement, rows: int, measured_rows: int) -> dict[str, Any]:
    """A step measured on `measured_rows` rows, its wall time extrapolated to `rows`."""
    step = _step(m, measured_rows)
    step.update(
        rows=rows,
        measured_rows=measured_rows,
        measured_seconds=m.seconds,
        seconds=m.seconds * rows / measured_rows,
        extrapolated=True,
    )
    return step


def _reset_schemas(env: dict[str, str], schemas: Sequence[str]) -> None:
    with psycopg.connect(
        host=env["PG_HOST"],
        port=int(env["PG_PORT"]),
        user=env["PG_USER"],
        password=env["PG_PASSWORD"],
        dbname=env["PG_DATABASE"],
        autocommit=True,
    ) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))


def _server_version(env: dict[str, str]) -> str:
    with psycopg.connect(
        host=env["PG_HOST"],
        port=int(env["PG_PORT"]),
        user=env["PG_USER"],
        password=env["PG_PASSWORD"],
        dbname=env["PG_DATABASE"],
    ) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def measure_size(
    rows: int, data_dir: Path, env: dict[str, str], to_sql_cap: int, to_sql_cap_above: int
) -> dict[str, Any]:
    """Generate one month of `rows` and time both implementations of every step on it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    _log(f"{rows:,} rows: generating the month")
    gen = run_step(
        "benchmarks.platform_steps",
        "generate",
        {"month": BENCH_MONTH, "rows": rows, "out_dir": str(data_dir / "input")},
    )
    src = gen.result["path"]
    course_parquet, platform_parquet = data_dir / "course.parquet", data_dir / "platform.parquet"

    _log(f"{rows:,} rows: CSV.gz -> parquet, course (pd.read_csv + to_parquet)")
    course_csv = run_step(
        "benchmarks.baseline", "csv_to_parquet", {"src": src, "dst": str(course_parquet)}
    )
    _log(f"{rows:,} rows: CSV.gz -> parquet, platform (csv_to_parquet)")
    platform_csv = run_step(
        "benchmarks.platform_steps",
        "csv_to_parquet",
        {"src": src, "dst": str(platform_parquet), "month": BENCH_MONTH},
    )

    cap = to_sql_cap if rows > to_sql_cap_above else None
    capped = f", first {cap:,} rows" if cap else ""
    _log(f"{rows:,} rows: parquet -> PostgreSQL, course (to_sql{capped})")
    course_pg = run_step(
        "benchmarks.baseline",
        "to_sql",
        {
            "src": str(course_parquet),
            "schema": COURSE_SCHEMA,
            "table": f"yellow_taxi_data_{rows}",
            "max_rows": cap,
        },
        env=env,
    )
    _log(f"{rows:,} rows: parquet -> PostgreSQL, platform (replace_month: DELETE + COPY)")
    platform_pg = run_step(
        "benchmarks.platform_steps",
        "postgres",
        {"src": str(platform_parquet), "schema": f"{PLATFORM_SCHEMA}_{rows}", "month": BENCH_MONTH},
        env=env,
    )
    course_rows = course_pg.result["rows"]
    return {
        "rows": rows,
        "month": BENCH_MONTH,
        "input_bytes": gen.result["bytes"],
        "src": src,
        "generate": _step(gen, rows),
        "steps": {
            "csv_to_parquet": {
                "baseline": _step(course_csv, course_csv.result["rows"]),
                "platform": _step(platform_csv, platform_csv.result["rows"]),
            },
            "postgres": {
                "baseline": (
                    _capped_step(course_pg, rows, course_rows)
                    if cap
                    else _step(course_pg, course_rows)
                ),
                "platform": _step(platform_pg, platform_pg.result["rows"]),
            },
        },
        "parquet_bytes": {
            "baseline": course_parquet.stat().st_size,
            "platform": platform_parquet.stat().st_size,
        },
    }


def measure_end_to_end(src: str, stack_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """One month through every layer, in its own process, on the local services."""
    served = stack_dir / "mirror" / YELLOW.name / Path(src).name
    served.parent.mkdir(parents=True, exist_ok=True)
    served.unlink(missing_ok=True)
    os.link(src, served)
    _log(f"end to end: yellow {BENCH_MONTH} through every layer (dg.materialize)")
    m = run_step("benchmarks.end_to_end", "one_month", {"month": BENCH_MONTH}, env=env)
    return {**m.result, "process_seconds": m.seconds, "peak_rss_mb": m.peak_rss_mb}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure_backfill(rows: int, stack_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """12 months x yellow + green through every layer in `dg dev`, one backfill."""
    _log(f"backfill: generating 12 months x yellow + green, {rows:,} rows each")
    run_step(
        "benchmarks.end_to_end",
        "generate_months",
        {
            "datasets": [ds.name for ds in BACKFILL_DATASETS],
            "months": BACKFILL_MONTHS,
            "rows": rows,
            "out_dir": str(stack_dir / "mirror"),
        },
    )
    port = _free_port()
    _log(f"backfill: starting dg dev on port {port}")
    url = start_ui(stack_dir, port, {"TAXI_SOURCE": COURSE_MIRROR.name})  # CSV.gz months
    try:
        keys = [key.path for ds in BACKFILL_DATASETS for key in trip_asset_keys(ds).values()]
        launched = time.time()
        backfill_id = launch_backfill(url, keys, BACKFILL_MONTHS)
        _log(f"backfill: {backfill_id} launched; waiting")
        status = wait_backfill(url, backfill_id, timeout=3600)
        completed = time.time()
        _log(f"backfill: {status}")
        stats = run_step(
            "benchmarks.end_to_end", "backfill_summary", {"backfill_id": backfill_id}, env=env
        ).result
    finally:
        stop_ui(stack_dir)
    dataset_months = len(BACKFILL_MONTHS) * len(BACKFILL_DATASETS)
    wall = (stats["last_end"] or completed) - launched
    return {
        **stats,
        "status": status,
        "rows_per_month": rows,
        "dataset_months": dataset_months,
        "wall_seconds": wall,
        "polled_wall_seconds": completed - launched,
        "months_per_minute": dataset_months / (wall / 60),
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    names = ("dagster", "pandas", "pyarrow", "psycopg", "psycopg2-binary", "SQLAlchemy")
    return {name: version(name) for name in names}


def _git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "taxi_platform"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head}{' (taxi_platform modified)' if dirty else ''}"


def _memory_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def run_benchmark(
    sizes: Sequence[int],
    *,
    work: Path,
    backfill_rows: int = DEFAULT_BACKFILL_ROWS,
    skip_backfill: bool = False,
    to_sql_cap: int = DEFAULT_TO_SQL_CAP,
    to_sql_cap_above: int = DEFAULT_TO_SQL_CAP_ABOVE,
    command: str = "",
) -> dict[str, Any]:
    """Every measurement of one benchmark run, as a JSON-ready dict."""
    started = time.time()
    work = work.absolute()
    stack_dir, data_dir = work / "stack", work / "data"
    if stack_dir.exists():
        stop_services(stack_dir)  # left over from an interrupted run
    for old in (stack_dir, data_dir):
        shutil.rmtree(old, ignore_errors=True)
    results: dict[str, Any] = {
        "meta": {
            "command": command,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "memory_gb": round(_memory_gb(), 1),
            "python": platform.python_version(),
            "versions": _versions(),
            "commit": _git_commit(),
            "load_at_start": os.getloadavg(),
            "to_sql_cap": to_sql_cap,
            "to_sql_cap_above": to_sql_cap_above,
        }
    }
    _log(f"starting the local services in {stack_dir}")
    with running_services(stack_dir) as env:
        results["meta"]["postgres"] = _server_version(env)
        _reset_schemas(env, [COURSE_SCHEMA])
        results["sizes"] = [
            measure_size(rows, data_dir / str(rows), env, to_sql_cap, to_sql_cap_above)
            for rows in sizes
        ]
        results["end_to_end"] = measure_end_to_end(results["sizes"][0]["src"], stack_dir, env)
        results["backfill"] = (
            None if skip_backfill else measure_backfill(backfill_rows, stack_dir, env)
        )
        _log("stopping the local services")
    results["meta"]["load_at_end"] = os.getloadavg()
    results["meta"]["total_seconds"] = time.time() - started
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--backfill-rows", type=int, default=DEFAULT_BACKFILL_ROWS)
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results")
    parser.add_argument(
        "--work",
        type=Path,
        default=REPO_ROOT / "benchmarks" / "work",
        help="services, generated input and outputs (wiped at start)",
    )
    parser.add_argument(
        "--to-sql-cap",
        type=int,
        default=DEFAULT_TO_SQL_CAP,
        help="course to_sql loads only this many rows of a month bigger than --to-sql-cap-above",
    )
    parser.add_argument("--to-sql-cap-above", type=int, default=DEFAULT_TO_SQL_CAP_ABOVE)
    args = parser.parse_args(argv)
    command = " ".join(["python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])])
    results = run_benchmark(
        args.sizes,
        work=args.work,
        backfill_rows=args.backfill_rows,
        skip_backfill=args.skip_backfill,
        to_sql_cap=args.to_sql_cap,
        to_sql_cap_above=args.to_sql_cap_above,
        command=command,
    )
    for path in write_report(results, args.out):
        _log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
