"""Backfill throughput: small official-layout months of every dataset through every layer, one
backfill per dataset launched in `dg dev` on fresh local services, timed from the runs' own
event logs.

    python -m benchmarks.backfill --label after [--months 6] [--rows 20000]
    python -m benchmarks.backfill --label full-history --full-history [--rows 2000]

`--full-history` backfills every partition of every dataset, from its first month at the TLC
to the newest month the source should hold today (the dry run of the whole archive).
Writes benchmarks/results/backfill-{label}.json and prints dataset-months per minute and the
share of the wall time that is not step work (queue, launches, run set-up, daemon ticks),
counted against the run queue's concurrency: 1 - step seconds / (wall x concurrent runs).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from benchmarks.end_to_end import backfill_stats
from devstack.dagster_ui import launch_backfill, start_ui, stop_ui, wait_backfill
from devstack.services import start_services, stop_services
from devstack.tlc_parquet import write_official_month
from taxi_platform.catalog import DATASETS, LAYERS, TLC
from taxi_platform.defs.partitions import dataset_partitions, newest_month
from taxi_platform.defs.trips import trip_asset_key
from taxi_platform.settings import load_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
CONCURRENT_RUNS = 2  # deploy/dagster.yaml: max_concurrent_runs
FIRST_MONTH = "2024-01"


def _months(count: int) -> list[str]:
    year, month = map(int, FIRST_MONTH.split("-"))
    keys = []
    for i in range(count):
        y, m = divmod(month - 1 + i, 12)
        keys.append(f"{year + y}-{m + 1:02d}")
    return keys


def _full_history() -> tuple[str, dict[str, list[str]]]:
    """The newest month the TLC should hold today, and every dataset's months up to it."""
    last = newest_month(TLC, load_settings(), datetime.now(UTC))
    return last, {
        ds.name: dataset_partitions(ds, TLC, last).get_partition_keys() for ds in DATASETS
    }


def measure(months: dict[str, list[str]], rows: int, port: int, last_month: str) -> dict:
    """Backfill every trip asset of every dataset over its `months`; the figures of it all."""
    state_dir = Path(tempfile.mkdtemp(prefix="backfill-bench-"))
    env = start_services(state_dir)
    os.environ.update(env)
    try:
        for ds in DATASETS:
            for month in months[ds.name]:
                write_official_month(ds.name, month, rows, state_dir / "mirror")
        url = start_ui(state_dir, port, {"TAXI_SOURCE": "tlc", "TAXI_LAST_MONTH": last_month})
        try:
            launched = time.time()
            backfills = [
                launch_backfill(
                    url, [trip_asset_key(ds, layer).path for layer in LAYERS], months[ds.name]
                )
                for ds in DATASETS
            ]
            statuses = {wait_backfill(url, b, timeout=6 * 3600) for b in backfills}
            with dg.DagsterInstance.get() as instance:
                per_backfill = [backfill_stats(instance, b) for b in backfills]
        finally:
            stop_ui(state_dir)
    finally:
        stop_services(state_dir)
    dataset_months = sum(len(keys) for keys in months.values())
    stats = {
        k: sum(b[k] for b in per_backfill)
        for k in ("run_count", "failed_runs", "sum_step_seconds", "sum_launch_seconds")
    }
    wall = max(b["last_end"] for b in per_backfill) - launched
    step = stats["sum_step_seconds"]
    runs = sorted((r for b in per_backfill for r in b["runs"]), key=lambda r: r["created"])
    return {
        "status": ", ".join(sorted(statuses)),
        "dataset_months": dataset_months,
        "months": {ds: f"{keys[0]}..{keys[-1]}" for ds, keys in months.items()},
        "rows_per_month": rows,
        "runs": stats["run_count"],
        "failed_runs": stats["failed_runs"],
        "wall_seconds": round(wall, 1),
        "step_seconds": round(step, 1),
        "launch_seconds": round(stats["sum_launch_seconds"], 1),
        "dataset_months_per_minute": round(dataset_months / (wall / 60), 2),
        "not_step_share": round(1 - step / (wall * CONCURRENT_RUNS), 3),
        "first_run_created_seconds": round(runs[0]["created"] - launched, 1),
        "run_seconds": round(sum(r["run_seconds"] for r in runs), 1),
        "per_run": [
            {
                "partitions": r["partitions"],
                "created_seconds": round(r["created"] - launched, 1),
                **{k: round(r[k], 1) for k in ("queued_seconds", "launch_seconds", "run_seconds")},
                "step_seconds": round(r["step_seconds"], 1),
                "steps": {step: round(s, 1) for step, s in r["step_times"].items()},
            }
            for r in runs
        ][:40],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--full-history", action="store_true")
    parser.add_argument("--port", type=int, default=3399)
    args = parser.parse_args()
    if args.full_history:
        last, months = _full_history()
    else:
        keys = _months(args.months)
        last, months = keys[-1], {ds.name: keys for ds in DATASETS}
    result = {"label": args.label, **measure(months, args.rows, args.port, last)}
    out = REPO_ROOT / "benchmarks" / "results" / f"backfill-{args.label}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
