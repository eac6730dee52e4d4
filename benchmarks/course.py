"""Target `course`: taxi_platform against the course pipeline on the same machine and input.

One run starts its own local services (PostgreSQL, GCS and BigQuery emulators, HTTP mirror)
in `--work`/stack, and then:

1. generates a yellow month per size with the sample generator;
2. per size, runs each step in a fresh process (wall time, rows/s, peak RSS of that process):
   raw CSV.gz -> parquet (course: `pd.read_csv` + `to_parquet(gzip)`; platform:
   `csv_to_parquet`) and parquet -> PostgreSQL (course: `to_sql(chunksize=100000)`, capped on
   big months and extrapolated; platform: `lib.warehouse.postgres.replace_months`, i.e. COPY);
3. materializes one month (the first size) through every layer with `dg.materialize` and
   reports each layer's step time;
4. backfills 12 months x yellow + green through `dg dev` (one GraphQL backfill) and
   reports months/minute and Dagster's share of the time;
5. writes results.md, results.png and results.json to `--out`, and stops the services.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from psycopg import sql

from benchmarks import REPO_ROOT, Options, Postgres
from benchmarks.backfill import time_backfills, trip_keys
from benchmarks.measure import Measurement, run_step
from benchmarks.report import write_report
from devstack.sample_data import write_month
from devstack.services import running_services, stop_services
from taxi_platform.catalog import COURSE_MIRROR, GREEN, YELLOW

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
    return {
        **_step(m, measured_rows),
        "rows": rows,
        "measured_rows": measured_rows,
        "measured_seconds": m.seconds,
        "seconds": m.seconds * rows / measured_rows,
        "extrapolated": True,
    }


def _reset_schema(pg: Postgres, schema: str) -> None:
    with pg.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))


def _to_parquet(rows: int, src: str, data_dir: Path) -> dict[str, Any]:
    """CSV.gz -> parquet both ways: each step's measurement and its file's size."""
    _log(f"{rows:,} rows: CSV.gz -> parquet, course (pd.read_csv + to_parquet)")
    course = run_step(
        "benchmarks.baseline",
        "csv_to_parquet",
        {"src": src, "dst": str(data_dir / "course.parquet")},
    )
    _log(f"{rows:,} rows: CSV.gz -> parquet, platform (csv_to_parquet)")
    mine = run_step(
        "benchmarks.steps",
        "csv_to_parquet",
        {"src": src, "dst": str(data_dir / "platform.parquet"), "month": BENCH_MONTH},
    )
    return {
        "baseline": _step(course, course.result["rows"]),
        "platform": _step(mine, mine.result["rows"]),
    }


def _to_postgres(rows: int, data_dir: Path, env: dict[str, str], options: Options) -> dict:
    """parquet -> PostgreSQL both ways; the course's `to_sql` capped on big months."""
    cap = options.to_sql_cap if rows > options.to_sql_cap_above else None
    capped = f", first {cap:,} rows" if cap else ""
    _log(f"{rows:,} rows: parquet -> PostgreSQL, course (to_sql{capped})")
    course = run_step(
        "benchmarks.baseline",
        "to_sql",
        {
            "src": str(data_dir / "course.parquet"),
            "schema": COURSE_SCHEMA,
            "table": f"yellow_taxi_data_{rows}",
            "max_rows": cap,
        },
        env=env,
    )
    _log(f"{rows:,} rows: parquet -> PostgreSQL, platform (replace_months: DELETE + COPY)")
    mine = run_step(
        "benchmarks.steps",
        "postgres",
        {
            "src": str(data_dir / "platform.parquet"),
            "schema": f"{PLATFORM_SCHEMA}_{rows}",
            "dataset": YELLOW.name,
            "month": BENCH_MONTH,
        },
        env=env,
    )
    measured = course.result["rows"]
    return {
        "baseline": _capped_step(course, rows, measured) if cap else _step(course, measured),
        "platform": _step(mine, mine.result["rows"]),
    }


def measure_size(rows: int, data_dir: Path, env: dict[str, str], options: Options) -> dict:
    """Generate one month of `rows` and time both implementations of every step on it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    _log(f"{rows:,} rows: generating the month")
    gen = run_step(
        "benchmarks.steps",
        "generate",
        {"month": BENCH_MONTH, "rows": rows, "out_dir": str(data_dir / "input")},
    )
    src = gen.result["path"]
    steps = {
        "csv_to_parquet": _to_parquet(rows, src, data_dir),
        "postgres": _to_postgres(rows, data_dir, env, options),
    }
    return {
        "rows": rows,
        "month": BENCH_MONTH,
        "input_bytes": gen.result["bytes"],
        "src": src,
        "generate": _step(gen, rows),
        "steps": steps,
        "parquet_bytes": {
            impl: (data_dir / f"{name}.parquet").stat().st_size
            for impl, name in (("baseline", "course"), ("platform", "platform"))
        },
    }


def measure_end_to_end(src: str, stack_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """One month through every layer, in its own process, on the local services."""
    served = stack_dir / "mirror" / YELLOW.name / Path(src).name
    served.parent.mkdir(parents=True, exist_ok=True)
    served.unlink(missing_ok=True)
    os.link(src, served)
    _log(f"end to end: yellow {BENCH_MONTH} through every layer (dg.materialize)")
    m = run_step("benchmarks.steps", "one_month", {"month": BENCH_MONTH}, env=env)
    return {**m.result, "process_seconds": m.seconds, "peak_rss_mb": m.peak_rss_mb}


def measure_backfill(rows: int, stack_dir: Path) -> dict[str, Any]:
    """12 months x yellow + green through every layer in `dg dev`, one backfill."""
    _log(f"backfill: generating 12 months x yellow + green, {rows:,} rows each")
    for ds in BACKFILL_DATASETS:
        for month in BACKFILL_MONTHS:
            write_month(ds, month, rows, stack_dir / "mirror")
    keys = trip_keys()
    launch = [key for ds in BACKFILL_DATASETS for key in keys[ds.name]]
    _log("backfill: launching it in dg dev; waiting")
    settings = {"TAXI_SOURCE": COURSE_MIRROR.name}  # CSV.gz months
    timed = time_backfills(stack_dir, settings, [(launch, BACKFILL_MONTHS)])
    [stats] = timed.stats
    _log(f"backfill: {timed.statuses[0]}")
    dataset_months = len(BACKFILL_MONTHS) * len(BACKFILL_DATASETS)
    wall = (stats["last_end"] or timed.completed) - timed.launched
    return {
        **stats,
        "status": timed.statuses[0],
        "rows_per_month": rows,
        "dataset_months": dataset_months,
        "wall_seconds": wall,
        "polled_wall_seconds": timed.completed - timed.launched,
        "months_per_minute": dataset_months / (wall / 60),
    }


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()


def _meta(options: Options) -> dict[str, Any]:
    names = ("dagster", "pandas", "pyarrow", "psycopg", "psycopg2-binary", "SQLAlchemy")
    dirty = _git("status", "--porcelain", "--", "taxi_platform")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "command": options.command,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "memory_gb": round(memory, 1),
        "python": platform.python_version(),
        "versions": {name: version(name) for name in names},
        "commit": _git("rev-parse", "--short", "HEAD")
        + (" (taxi_platform modified)" if dirty else ""),
        "load_at_start": os.getloadavg(),
        "to_sql_cap": options.to_sql_cap,
        "to_sql_cap_above": options.to_sql_cap_above,
    }


def run_benchmark(options: Options) -> dict[str, Any]:
    """Every measurement of one course benchmark run, as a JSON-ready dict."""
    started = time.time()
    work = options.work.absolute()
    stack_dir, data_dir = work / "stack", work / "data"
    if stack_dir.exists():
        stop_services(stack_dir)  # left over from an interrupted run
    for old in (stack_dir, data_dir):
        shutil.rmtree(old, ignore_errors=True)
    results: dict[str, Any] = {"meta": _meta(options)}
    _log(f"starting the local services in {stack_dir}")
    with running_services(stack_dir) as env:
        pg = Postgres.from_env(env)
        with pg.connect() as conn:
            results["meta"]["postgres"] = conn.execute("SHOW server_version").fetchone()[0]
        _reset_schema(pg, COURSE_SCHEMA)
        results["sizes"] = [
            measure_size(rows, data_dir / str(rows), env, options) for rows in options.sizes
        ]
        results["end_to_end"] = measure_end_to_end(results["sizes"][0]["src"], stack_dir, env)
        skip = options.skip_backfill
        results["backfill"] = None if skip else measure_backfill(options.backfill_rows, stack_dir)
        _log("stopping the local services")
    results["meta"]["load_at_end"] = os.getloadavg()
    results["meta"]["total_seconds"] = time.time() - started
    return results


def run(options: Options) -> None:
    """Measure, then write results.json, results.md and results.png into `options.out`."""
    for path in write_report(run_benchmark(options), options.out):
        _log(f"wrote {path}")
