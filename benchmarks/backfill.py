"""Backfill throughput: small official-layout months of every dataset through every layer, one
backfill per dataset launched in `dg dev` on fresh local services, timed from the runs' own
event logs.

    python -m benchmarks.backfill --label after --months 24 --baseline 64bf58b
    python -m benchmarks.backfill --label full-history --full-history

`--baseline COMMIT` first runs the same backfill on that commit's code (a git worktree of it,
served by `dg dev` with its own instance config), in the same run, and records it beside.
`--full-history` backfills every partition of every dataset, from its first month at the TLC
to the newest month the source should hold today (the dry run of the whole archive).

Dagster's backfill daemon picks a backfill up on its next tick, every 30 s: a backfill
launched at a random time waits 15 s on average, one launched just after a tick 30 s. So the
rate is counted over the wall time with the measured wait (`pickup_seconds`) replaced by that
mean, the same for every commit; the raw wall time is recorded too. Writes
benchmarks/results/backfill-{label}.json and prints dataset-months per minute and the share of
the wall time that is not step work (pickup, queue, launches, run set-up), counted against the
run queue's concurrency: 1 - step seconds / (wall x concurrent runs); and the same share of the
wall after the pickup, from the first run's creation (the part the platform's code decides).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from benchmarks.end_to_end import backfill_stats
from devstack.dagster_ui import launch_backfill, start_ui, stop_ui, wait_backfill
from devstack.services import start_services, stop_services
from devstack.tlc_parquet import write_official_month
from taxi_platform.catalog import DATASETS, TLC
from taxi_platform.defs.partitions import dataset_partitions, newest_month
from taxi_platform.settings import load_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
CONCURRENT_RUNS = 2  # deploy/dagster.yaml: max_concurrent_runs
FIRST_MONTH = "2024-01"
MEAN_PICKUP_SECONDS = 15.0  # half of the backfill daemon's fixed 30-s tick
# The code issue 14 measured (12.97 dataset-months/min, benchmarks/results/results.md there).
ISSUE_COMMIT = "64bf58b"


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


@contextmanager
def checkout(commit: str) -> Iterator[Path]:
    """A detached git worktree of `commit`, using this checkout's .venv; removed afterwards."""
    tree = Path(tempfile.mkdtemp(prefix="backfill-baseline-")) / commit
    git = ["git", "-C", str(REPO_ROOT), "worktree"]
    subprocess.run([*git, "add", "--detach", str(tree), commit], check=True, capture_output=True)
    try:
        (tree / ".venv").symlink_to(REPO_ROOT / ".venv")
        yield tree
    finally:
        subprocess.run([*git, "remove", "--force", str(tree)], check=False, capture_output=True)
        shutil.rmtree(tree.parent, ignore_errors=True)


def trip_keys(project: Path) -> dict[str, list[list[str]]]:
    """Every dataset's trip asset keys as the code of `project` names them."""
    code = (
        "import json; from taxi_platform.catalog import DATASETS, LAYERS, trip_key; print("
        "json.dumps({ds.name: [trip_key(ds, layer) for layer in LAYERS] for ds in DATASETS}))"
    )
    env = {**os.environ, "PYTHONPATH": str(project)}
    found = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(found.stdout)


def measure(
    months: dict[str, list[str]], rows: int, port: int, last_month: str, project: Path = REPO_ROOT
) -> dict:
    """Backfill every trip asset of every dataset over its `months` with the code of `project`
    (this checkout, or a worktree of an earlier commit); the figures of it all."""
    state_dir = Path(tempfile.mkdtemp(prefix="backfill-bench-"))
    env = start_services(state_dir)
    os.environ.update(env)
    settings = {"TAXI_SOURCE": "tlc", "TAXI_LAST_MONTH": last_month}
    if project != REPO_ROOT:  # its own package and instance config
        settings["PYTHONPATH"] = str(project)
        home = Path(env["DAGSTER_HOME"])
        shutil.copyfile(project / "deploy" / "dagster.yaml", home / "dagster.yaml")
    try:
        for ds in DATASETS:
            for month in months[ds.name]:
                write_official_month(ds.name, month, rows, state_dir / "mirror")
        keys = trip_keys(project)
        url = start_ui(state_dir, port, settings, project)
        try:
            launched = time.time()
            backfills = [launch_backfill(url, keys[name], months[name]) for name in keys]
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
    runs = sorted((r for b in per_backfill for r in b["runs"]), key=lambda r: r["created"])
    raw_wall = max(b["last_end"] for b in per_backfill) - launched
    pickup = runs[0]["created"] - launched
    wall = raw_wall - pickup + MEAN_PICKUP_SECONDS
    step = stats["sum_step_seconds"]
    return {
        "status": ", ".join(sorted(statuses)),
        "dataset_months": dataset_months,
        "months": {ds: f"{keys[0]}..{keys[-1]}" for ds, keys in months.items()},
        "rows_per_month": rows,
        "runs": stats["run_count"],
        "failed_runs": stats["failed_runs"],
        "raw_wall_seconds": round(raw_wall, 1),
        "pickup_seconds": round(pickup, 1),
        "wall_seconds": round(wall, 1),
        "step_seconds": round(step, 1),
        "launch_seconds": round(stats["sum_launch_seconds"], 1),
        "dataset_months_per_minute": round(dataset_months / (wall / 60), 2),
        "not_step_share": round(1 - step / (wall * CONCURRENT_RUNS), 3),
        "not_step_share_after_pickup": round(1 - step / ((raw_wall - pickup) * CONCURRENT_RUNS), 3),
        "run_seconds": round(sum(r["run_seconds"] for r in runs), 1),
        "per_run": [
            {
                "partitions": r["partitions"],
                "created_seconds": round(r["created"] - launched, 1),
                **{
                    k: round(r[k], 1)
                    for k in (
                        "enqueued_seconds",
                        "dequeued_seconds",
                        "queued_seconds",
                        "launch_seconds",
                        "first_step_seconds",
                        "run_seconds",
                    )
                },
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
    parser.add_argument("--baseline", metavar="COMMIT", help="also measure this commit's code")
    args = parser.parse_args()
    if args.full_history:
        last, months = _full_history()
    else:
        keys = _months(args.months)
        last, months = keys[-1], {ds.name: keys for ds in DATASETS}
    result: dict = {"label": args.label}
    if args.baseline:
        with checkout(args.baseline) as tree:
            baseline = measure(months, args.rows, args.port, last, tree)
        result["baseline"] = {"commit": args.baseline, **baseline}
    result.update(measure(months, args.rows, args.port, last))
    out = REPO_ROOT / "benchmarks" / "results" / f"backfill-{args.label}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
