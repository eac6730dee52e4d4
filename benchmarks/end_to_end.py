"""Months through every layer under Dagster: one month in process, and a backfill in `dg dev`.

Times come from the runs' own event logs: a step lasts from STEP_START to its STEP_SUCCESS
(or STEP_FAILURE); a run from RUN_START to RUN_SUCCESS (or RUN_FAILURE). Whatever a run
spends outside its steps (resource set-up, event writes, the executor) is Dagster run
overhead; launching the run's process (RUN_STARTING -> RUN_START) and waiting in the run
queue are reported separately.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from devstack.sample_data import write_month
from taxi_platform.catalog import COURSE_MIRROR, DATASETS_BY_NAME, YELLOW, TaxiDataset
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import resources_for
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys

# Layer names of the asset keys' first element, in pipeline order.
LAYERS = {
    "raw": "raw",
    "clean": "lake",
    "gcs": "gcs",
    "bigquery": "bigquery",
    "postgres": "postgres",
}
_RUN_MILESTONES = {
    dg.DagsterEventType.RUN_ENQUEUED,
    dg.DagsterEventType.RUN_DEQUEUED,
    dg.DagsterEventType.RUN_STARTING,
    dg.DagsterEventType.RUN_START,
}
_STEP_END = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
_RUN_END = {
    dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.RUN_CANCELED,
}


def step_layers(datasets: Iterable[TaxiDataset]) -> dict[str, tuple[str, str]]:
    """Step key (the asset's op name) -> (dataset, layer)."""
    return {
        key.to_python_identifier(): (ds.name, LAYERS[key.path[0]])
        for ds in datasets
        for key in trip_asset_keys(ds).values()
    }


def run_timeline(entries: Sequence[Any]) -> dict[str, Any]:
    """Event times of one run: its steps' durations and the run's own milestones."""
    starts: dict[str, float] = {}
    steps: dict[str, float] = defaultdict(float)
    milestones: dict[str, float] = {}
    metadata: dict[str, dict[str, Any]] = {}
    for entry in entries:
        event = entry.dagster_event
        if event is None:
            continue
        kind = event.event_type
        if kind == dg.DagsterEventType.STEP_START:
            starts[entry.step_key] = entry.timestamp
            milestones.setdefault("FIRST_STEP_START", entry.timestamp)
        elif kind in _STEP_END and entry.step_key in starts:
            steps[entry.step_key] += entry.timestamp - starts.pop(entry.step_key)
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            values = entry.asset_materialization.metadata
            metadata[entry.step_key] = {k: getattr(v, "value", v) for k, v in values.items()}
        elif kind in _RUN_MILESTONES:
            milestones.setdefault(kind.name, entry.timestamp)
        elif kind in _RUN_END:
            milestones["RUN_END"] = entry.timestamp
            milestones["status"] = kind.name
    return {"steps": dict(steps), "milestones": milestones, "metadata": metadata}


def one_month(month: str) -> dict[str, Any]:
    """Materialize every yellow layer for `month` on the local services; per-layer times."""
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
    names = step_layers([YELLOW])
    layers = []
    for step, seconds in timeline["steps"].items():
        meta = timeline["metadata"].get(step, {})
        layers.append(
            {
                "layer": names.get(step, ("", step))[1],
                "step_seconds": seconds,
                "asset_seconds": meta.get("seconds"),
                "rows": meta.get("dagster/row_count"),
                "bytes": meta.get("bytes"),
            }
        )
    order = list(LAYERS.values())
    layers.sort(key=lambda row: order.index(row["layer"]) if row["layer"] in order else 99)
    milestones = timeline["milestones"]
    return {
        "month": month,
        "layers": layers,
        "run_seconds": milestones["RUN_END"] - milestones["RUN_START"],
        "materialize_seconds": materialize_seconds,
    }


def generate_months(datasets: list[str], months: list[str], rows: int, out_dir: str) -> dict:
    """Sample months of several datasets into a mirror directory."""
    for name in datasets:
        for month in months:
            write_month(DATASETS_BY_NAME[name], month, rows, Path(out_dir))
    return {"rows": rows * len(datasets) * len(months), "files": len(datasets) * len(months)}


def _partitions(tags: dict[str, str]) -> str:
    """The run's partition key, or its range when a backfill policy packs several."""
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    first = tags.get("dagster/asset_partition_range_start", "")
    last = tags.get("dagster/asset_partition_range_end", "")
    return f"{first}..{last}" if first else ""


def backfill_summary(backfill_id: str) -> dict[str, Any]:
    """`backfill_stats` from the instance at $DAGSTER_HOME (the one `dg dev` used)."""
    with dg.DagsterInstance.get() as instance:
        return backfill_stats(instance, backfill_id)


def backfill_stats(instance: dg.DagsterInstance, backfill_id: str) -> dict[str, Any]:
    """Where the backfill's time went: queue, process launch, run overhead, step work."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id})
    )
    runs = []
    for record in records:
        timeline = run_timeline(instance.all_logs(record.dagster_run.run_id))
        ms = timeline["milestones"]
        created = record.create_timestamp.timestamp()
        starting = ms.get("RUN_STARTING", created)
        start = ms.get("RUN_START", starting)
        end = ms.get("RUN_END", start)
        runs.append(
            {
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
        )
    total = {k: sum(r[k] for r in runs) for k in ("run_seconds", "step_seconds", "launch_seconds")}
    total["queued_seconds"] = sum(r["queued_seconds"] for r in runs)
    return {
        "runs": runs,
        "run_count": len(runs),
        "failed_runs": sum(r["status"] != "SUCCESS" for r in runs),
        "first_created": min((r["created"] for r in runs), default=0.0),
        "last_end": max((r["end"] for r in runs), default=0.0),
        **{f"sum_{k}": v for k, v in total.items()},
    }
