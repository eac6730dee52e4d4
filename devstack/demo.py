"""The local demo: services up, official-layout months of all four datasets generated (recent
ones and yellow 2009-01), a backfill of each dataset's monthly job through every layer in
`dg dev`, row counts printed, and the UI left running.

    python -m devstack.demo [--rows N] [--months 2025-01 2025-02]  (plus yellow 2009-01)
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
    launch_job_backfill,
    start_ui,
    stop_ui,
    wait_backfill,
)
from devstack.report import layer_counts
from devstack.services import start_services, stop_services
from devstack.tlc_parquet import write_official_month, write_official_zone_lookup
from taxi_platform.catalog import DATASETS, TLC, YELLOW, TaxiDataset
from taxi_platform.defs.resources import initialized_resources, resources_for
from taxi_platform.defs.zones import build_zone_assets

DEMO_MONTHS = ["2025-01", "2025-02"]  # the first era with cbd_congestion_fee
HISTORIC_MONTH = "2009-01"  # yellow's first era: text codes, coordinates, no zones


def _state_dir() -> Path:
    return Path(os.getenv("TAXI_LOCAL_DIR", ".local")).resolve()


def print_layer_counts(months: dict[TaxiDataset, list[str]]) -> None:
    """A table of each demo month's rows (bytes for GCS) in every layer."""
    print(
        f"\n{'dataset':8} {'month':8} {'era':15} {'lake rows':>10} {'gcs bytes':>10} "
        f"{'bigquery rows':>14} {'postgres rows':>14}"
    )
    with initialized_resources("local") as resources:
        for ds, ds_months in months.items():
            for month in ds_months:
                c = layer_counts(resources, ds, month)
                print(
                    f"{ds.name:8} {month:8} {ds.era(month):15} {c['lake_rows']!s:>10}"
                    f" {c['gcs_bytes']!s:>10} {c['bigquery_rows']!s:>14}"
                    f" {c['postgres_rows']!s:>14}"
                )


def _backfill(url: str, job_name: str, months: list[str]) -> str:
    backfill_id = launch_job_backfill(url, job_name, months)
    print(
        f"backfill {backfill_id} of {job_name} {', '.join(months)} launched:"
        f" {url}/runs/b/{backfill_id}"
    )
    return backfill_id


def run(recent: list[str], rows: int, port: int) -> None:
    started = time.monotonic()
    state_dir = _state_dir()
    env = start_services(state_dir)
    os.environ.update(env)
    months = {ds: list(recent) for ds in DATASETS}
    months[YELLOW] = [HISTORIC_MONTH, *recent]
    mirror = state_dir / "mirror"
    for ds, ds_months in months.items():
        for month in ds_months:
            write_official_month(ds.name, month, rows, mirror)
    write_official_zone_lookup(mirror)
    print(
        f"official-layout months on the local mirror, {rows:,} rows each: "
        + "; ".join(f"{ds.name} {', '.join(m)}" for ds, m in months.items())
    )

    url = start_ui(state_dir, port)
    with dg.DagsterInstance.get() as instance:
        zones = build_zone_assets(TLC)
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        result = dg.materialize(
            zones, instance=instance, resources=resources_for("local"), run_config=quiet
        )
        assert result.success
    backfills = [_backfill(url, f"{ds.name}_monthly", m) for ds, m in months.items()]
    statuses = [wait_backfill(url, b) for b in backfills]
    statuses.append(wait_backfill(url, _backfill(url, "analytics_monthly", months[YELLOW])))
    print(f"backfills: {', '.join(statuses)}")

    print_layer_counts(months)
    print(
        f"\nlake: {env['TAXI_LAKE_DIR']}  bucket: gs://{env['GCS_BUCKET']}"
        f"  BigQuery: {env['BQ_DATASET']}  PostgreSQL: {env['PG_DATABASE']}"
    )
    print(f"demo took {time.monotonic() - started:.0f}s; the Dagster UI is at {url}")
    print("stop everything with: bash scripts/demo.sh stop")
    failed = [s for s in statuses if s not in ("COMPLETED", "COMPLETED_SUCCESS")]
    if failed:
        raise SystemExit(f"a backfill ended {failed[0]}: see {url}/runs/backfills")


def stop() -> None:
    state_dir = _state_dir()
    stop_ui(state_dir)
    stop_services(state_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["run", "stop"], default="run")
    parser.add_argument("--months", nargs="+", default=DEMO_MONTHS)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args()
    if args.command == "stop":
        stop()
    else:
        run(args.months, args.rows, args.port)


if __name__ == "__main__":
    main()
