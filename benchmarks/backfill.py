"""Backfills through `dg dev`, timed from the runs' own event logs; and the scale targets'
backfills: small official-layout months of every dataset through every layer, one backfill
per dataset launched at once on fresh local services.

Target `backfill` runs 4 × `--months` months on the code of `--baseline` (a git worktree of
it, served by `dg dev` with its own instance config) and then on this checkout, in the same
run, and writes backfill-after.json; `full-history` backfills every partition of every
dataset, from its first month at the TLC to the newest month the source should hold today,
and writes backfill-full-history.json.

Dagster's backfill daemon picks a backfill up on its next tick, every 30 s: a backfill
launched at a random time waits 15 s on average, one launched just after a tick 30 s. So the
rate is counted over the wall time with the measured wait (`pickup_seconds`) replaced by that
mean, the same for every commit; the raw wall time is recorded too. The share of the wall
that is not step work (pickup, queue, launches, run set-up) is counted against the run
queue's concurrency: 1 - step seconds / (wall x concurrent runs); and the same share of the
wall after the pickup, from the first run's creation (the part the platform's code decides).
A run's time outside its steps is Dagster run overhead; launching its process (RUN_STARTING
-> RUN_START) and waiting in the queue are counted apart.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest.mock import patch

import dagster as dg

from benchmarks import REPO_ROOT, Options
from benchmarks.steps import run_timeline
from devstack.dagster_ui import launch_backfill, start_ui, stop_ui, wait_backfill
from devstack.services import stack_env, start_services, stop_services
from devstack.tlc_parquet import write_official_month
from taxi_platform.catalog import DATASETS, TLC
from taxi_platform.defs.partitions import dataset_partitions, newest_month
from taxi_platform.lib.months import next_month
from taxi_platform.settings import load_settings

CONCURRENT_RUNS = 2  # deploy/dagster.yaml: max_concurrent_runs
FIRST_MONTH = "2024-01"
MEAN_PICKUP_SECONDS = 15.0  # half of the backfill daemon's fixed 30-s tick
KeyPath = list[str]


@dataclass(frozen=True)
class Timed:
    """Backfills launched together: when, how each ended, and each one's `backfill_stats`."""

    launched: float
    completed: float
    statuses: tuple[str, ...]
    stats: tuple[dict[str, Any], ...]


def months_from(first: str, count: int) -> list[str]:
    """`count` YYYY-MM keys from `first` on."""
    keys = [first]
    while len(keys) < count:
        keys.append(next_month(keys[-1]))
    return keys[:count]


def full_history() -> tuple[str, dict[str, list[str]]]:
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


def trip_keys(project: Path = REPO_ROOT) -> dict[str, list[KeyPath]]:
    """Every dataset's trip asset keys as the code of `project` names them."""
    code = (
        "import json; from taxi_platform.catalog import DATASETS, LAYERS, trip_key; print("
        "json.dumps({ds.name: [trip_key(ds, layer) for layer in LAYERS] for ds in DATASETS}))"
    )
    env = {**os.environ, "PYTHONPATH": str(project)}
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=project, env=env, capture_output=True, check=True
    )
    return json.loads(found.stdout)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def time_backfills(
    state_dir: Path,
    settings: dict[str, str],
    launches: Sequence[tuple[list[KeyPath], list[str]]],
    project: Path = REPO_ROOT,
) -> Timed:
    """Serve `project` with `dg dev` on the running services of `state_dir`, launch one
    backfill per (asset keys, months) at once, wait for all of them and time them."""
    url = start_ui(state_dir, _free_port(), settings, project)
    try:
        launched = time.time()
        backfills = [launch_backfill(url, keys, months) for keys, months in launches]
        statuses = tuple(wait_backfill(url, b, timeout=6 * 3600) for b in backfills)
        completed = time.time()
        with patch.dict(os.environ, stack_env(state_dir)), dg.DagsterInstance.get() as instance:
            stats = tuple(backfill_stats(instance, b) for b in backfills)
    finally:
        stop_ui(state_dir)
    return Timed(launched, completed, statuses, stats)


def _partitions(tags: dict[str, str]) -> str:
    """The run's partition key, or its range when a backfill policy packs several."""
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    first = tags.get("dagster/asset_partition_range_start", "")
    last = tags.get("dagster/asset_partition_range_end", "")
    return f"{first}..{last}" if first else ""


def _run_times(instance: dg.DagsterInstance, record: dg.RunRecord) -> dict[str, Any]:
    """One run's queue, launch, first step, run and step times, in seconds."""
    timeline = run_timeline(instance.all_logs(record.dagster_run.run_id))
    ms = timeline["milestones"]
    created = record.create_timestamp.timestamp()
    starting = ms.get("RUN_STARTING", created)
    start = ms.get("RUN_START", starting)
    end = ms.get("RUN_END", start)
    return {
        "run_id": record.dagster_run.run_id,
        "status": record.dagster_run.status.value,
        "partitions": _partitions(record.dagster_run.tags),
        "steps": len(timeline["steps"]),
        "created": created,
        "enqueued_seconds": ms.get("RUN_ENQUEUED", created) - created,
        "dequeued_seconds": ms.get("RUN_DEQUEUED", starting) - created,
        "first_step_seconds": ms.get("FIRST_STEP_START", start) - start,
        "queued_seconds": starting - created,
        "launch_seconds": start - starting,
        "run_seconds": end - start,
        "step_seconds": sum(timeline["steps"].values()),
        "step_times": timeline["steps"],
        "end": end,
    }


def backfill_stats(instance: dg.DagsterInstance, backfill_id: str) -> dict[str, Any]:
    """Where the backfill's time went: queue, process launch, run overhead, step work."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id})
    )
    runs = [_run_times(instance, record) for record in records]
    sums = ("run_seconds", "step_seconds", "launch_seconds", "queued_seconds")
    return {
        "runs": runs,
        "run_count": len(runs),
        "failed_runs": sum(r["status"] != "SUCCESS" for r in runs),
        "first_created": min((r["created"] for r in runs), default=0.0),
        "last_end": max((r["end"] for r in runs), default=0.0),
        **{f"sum_{k}": sum(r[k] for r in runs) for k in sums},
    }


def measure(
    months: dict[str, list[str]], rows: int, last_month: str, project: Path = REPO_ROOT
) -> dict[str, Any]:
    """Backfill every trip asset of every dataset over its `months`, one backfill per dataset,
    with the code of `project` (this checkout, or a worktree of an earlier commit) on fresh
    local services; the figures of it all."""
    state_dir = Path(tempfile.mkdtemp(prefix="backfill-bench-"))
    env = start_services(state_dir)
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
        timed = time_backfills(state_dir, settings, [(keys[n], months[n]) for n in keys], project)
    finally:
        stop_services(state_dir)
    return _summary(timed, months, rows)


def _summary(timed: Timed, months: dict[str, list[str]], rows: int) -> dict[str, Any]:
    """Rate and not-step shares of backfills launched together, with the pickup at its mean."""
    dataset_months = sum(len(keys) for keys in months.values())
    runs = sorted((r for b in timed.stats for r in b["runs"]), key=lambda r: r["created"])
    raw_wall = max(b["last_end"] for b in timed.stats) - timed.launched
    pickup = runs[0]["created"] - timed.launched
    wall = raw_wall - pickup + MEAN_PICKUP_SECONDS
    step = sum(b["sum_step_seconds"] for b in timed.stats)
    return {
        "status": ", ".join(sorted(set(timed.statuses))),
        "dataset_months": dataset_months,
        "months": {ds: f"{keys[0]}..{keys[-1]}" for ds, keys in months.items()},
        "rows_per_month": rows,
        "runs": len(runs),
        "failed_runs": sum(b["failed_runs"] for b in timed.stats),
        "raw_wall_seconds": round(raw_wall, 1),
        "pickup_seconds": round(pickup, 1),
        "wall_seconds": round(wall, 1),
        "step_seconds": round(step, 1),
        "launch_seconds": round(sum(b["sum_launch_seconds"] for b in timed.stats), 1),
        "dataset_months_per_minute": round(dataset_months / (wall / 60), 2),
        "not_step_share": round(1 - step / (wall * CONCURRENT_RUNS), 3),
        "not_step_share_after_pickup": round(1 - step / ((raw_wall - pickup) * CONCURRENT_RUNS), 3),
        "run_seconds": round(sum(r["run_seconds"] for r in runs), 1),
        "per_run": [_per_run(r, timed.launched) for r in runs][:40],
    }


def _per_run(run: dict[str, Any], launched: float) -> dict[str, Any]:
    times = ("enqueued", "dequeued", "queued", "launch", "first_step", "run", "step")
    return {
        "partitions": run["partitions"],
        "created_seconds": round(run["created"] - launched, 1),
        **{f"{k}_seconds": round(run[f"{k}_seconds"], 1) for k in times},
        "steps": {step: round(s, 1) for step, s in run["step_times"].items()},
    }


def _write(out: Path, label: str, result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"backfill-{label}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def run_after(options: Options) -> None:
    """4 × `months` months on `baseline`'s code, then on this checkout, in one run."""
    keys = months_from(FIRST_MONTH, options.months)
    months = {ds.name: keys for ds in DATASETS}
    result: dict[str, Any] = {"label": "after"}
    if options.baseline:
        with checkout(options.baseline) as tree:
            baseline = measure(months, options.month_rows, keys[-1], tree)
        result["baseline"] = {"commit": options.baseline, **baseline}
    result.update(measure(months, options.month_rows, keys[-1]))
    _write(options.out, "after", result)


def run_full_history(options: Options) -> None:
    """Every partition of every dataset: the dry run of the whole archive."""
    last, months = full_history()
    _write(
        options.out,
        "full-history",
        {"label": "full-history", **measure(months, options.month_rows, last)},
    )
