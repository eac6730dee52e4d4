"""The local demo: services up, sample months generated, a backfill through every layer in
`dg dev`, row counts printed, and the UI left running.

    python -m devstack.demo [--rows N] [--months 2021-01 2021-02 2021-03]
    python -m devstack.demo stop
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import dagster as dg

from devstack.dagster_ui import (
    DEFAULT_PORT,
    launch_backfill,
    start_ui,
    stop_ui,
    wait_backfill,
)
from devstack.report import layer_counts
from devstack.sample_data import write_month, write_zone_lookup
from devstack.services import start_services, stop_services
from taxi_platform.catalog import GREEN, LAYERS, YELLOW
from taxi_platform.defs.analytics import analytics_keys
from taxi_platform.defs.resources import initialized_resources, resources_for
from taxi_platform.defs.trips import trip_asset_key
from taxi_platform.defs.zones import ZONE_ASSETS

DEMO_DATASETS = (YELLOW, GREEN)
DEMO_MONTHS = ["2021-01", "2021-02", "2021-03"]


def _state_dir() -> Path:
    return Path(os.getenv("TAXI_LOCAL_DIR", ".local")).resolve()


def print_layer_counts(months: list[str]) -> None:
    """A table of each demo month's rows (bytes for GCS) in every layer."""
    print(
        f"\n{'dataset':8} {'month':8} {'lake rows':>10} {'gcs bytes':>10} "
        f"{'bigquery rows':>14} {'postgres rows':>14}"
    )
    with initialized_resources("local") as resources:
        for ds in DEMO_DATASETS:
            for month in months:
                c = layer_counts(resources, ds, month)
                print(
                    f"{ds.name:8} {month:8} {c['lake_rows']!s:>10} {c['gcs_bytes']!s:>10} "
                    f"{c['bigquery_rows']!s:>14} {c['postgres_rows']!s:>14}"
                )


def run(months: list[str], rows: int, port: int) -> None:
    started = time.monotonic()
    state_dir = _state_dir()
    env = start_services(state_dir)
    os.environ.update(env)
    mirror = state_dir / "mirror"
    for ds in DEMO_DATASETS:
        for month in months:
            write_month(ds, month, rows, mirror)
    write_zone_lookup(mirror)
    print(f"sample months: {', '.join(months)} of yellow and green, {rows:,} rows each")

    url = start_ui(state_dir, port)
    with dg.DagsterInstance.get() as instance:
        zones = dg.materialize(ZONE_ASSETS, instance=instance, resources=resources_for("local"))
        assert zones.success
    keys = [trip_asset_key(ds, layer).path for ds in DEMO_DATASETS for layer in LAYERS]
    keys += [key.path for key in analytics_keys().values()]
    backfill_id = launch_backfill(url, keys, months)
    print(f"backfill {backfill_id} launched: {url}/runs/b/{backfill_id}")
    status = wait_backfill(url, backfill_id)
    print(f"backfill {backfill_id}: {status}")

    print_layer_counts(months)
    print(
        f"\nlake: {env['TAXI_LAKE_DIR']}  bucket: gs://{env['GCS_BUCKET']}"
        f"  BigQuery: {env['BQ_DATASET']}  PostgreSQL: {env['PG_DATABASE']}"
    )
    print(f"demo took {time.monotonic() - started:.0f}s; the Dagster UI is at {url}")
    print("stop everything with: bash scripts/demo.sh stop")
    if status not in ("COMPLETED", "COMPLETED_SUCCESS"):
        raise SystemExit(f"backfill ended {status}: see {url}/runs/b/{backfill_id}")


def stop() -> None:
    state_dir = _state_dir()
    stop_ui(state_dir)
    stop_services(state_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["run", "stop"], default="run")
    parser.add_argument("--months", nargs="+", default=DEMO_MONTHS)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args()
    if args.command == "stop":
        stop()
    else:
        run(args.months, args.rows, args.port)


if __name__ == "__main__":
    main()
