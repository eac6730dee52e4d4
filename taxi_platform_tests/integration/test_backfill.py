"""Multi-month backfills launched through the GraphQL API of a running `dg dev`: a run lands a
batch of months (`TAXI_BACKFILL_MONTHS_PER_RUN`), each reported on its own partition; a bad
month fails its batch, naming itself, and nothing downstream loads the batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from devstack.dagster_ui import launch_backfill, wait_backfill
from devstack.report import layer_counts
from devstack.sample_data import write_month
from taxi_platform.catalog import GREEN, YELLOW
from taxi_platform.defs.trips import trip_asset_keys
from taxi_platform_tests.conftest import SAMPLE_MONTHS

pytestmark = pytest.mark.integration
DATASETS = (YELLOW, GREEN)


def _backfill(url: str) -> str:
    keys = [key.path for ds in DATASETS for key in trip_asset_keys(ds).values()]
    return wait_backfill(url, launch_backfill(url, keys, list(SAMPLE_MONTHS)), timeout=600)


def _counts(resources: dict[str, Any]) -> dict[tuple[str, str], dict]:
    return {(ds.name, m): layer_counts(resources, ds, m) for ds in DATASETS for m in SAMPLE_MONTHS}


def test_backfill_materializes_every_partition_once_and_a_rerun_changes_nothing(
    dagster_dev: str, local_resources: dict[str, Any]
) -> None:
    assert _backfill(dagster_dev) == "COMPLETED_SUCCESS"

    with dg.DagsterInstance.get() as instance:
        for ds in DATASETS:
            for key in trip_asset_keys(ds).values():
                assert set(SAMPLE_MONTHS) <= instance.get_materialized_partitions(key), key
    first = _counts(local_resources)
    for counts in first.values():
        assert counts["bigquery_rows"] == counts["postgres_rows"] == counts["lake_rows"] > 0

    assert _backfill(dagster_dev) == "COMPLETED_SUCCESS"
    assert _counts(local_resources) == first


def _failures(instance: dg.DagsterInstance, backfill_id: str) -> dict[str, list[str]]:
    """Each failed run's partition and the messages of its failed steps."""
    failures: dict[str, list[str]] = {}
    for run in instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id})):
        if run.status != dg.DagsterRunStatus.FAILURE:
            continue
        records = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
        ).records
        month = run.tags.get("dagster/partition") or run.tags["dagster/asset_partition_range_start"]
        failures[month] = [
            r.event_log_entry.dagster_event.step_failure_data.error.message for r in records
        ]
    return failures


def test_a_bad_month_fails_its_batch_naming_every_bad_month_and_nothing_loads(
    dagster_dev: str, stack_dir: Path, local_resources: dict[str, Any]
) -> None:
    good, truncated, unpublished = "2021-04", "2021-05", "2021-06"
    mirror = stack_dir / "mirror"
    write_month(YELLOW, good, 1_000, mirror)
    cut = write_month(YELLOW, truncated, 1_000, mirror)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    keys = [key.path for key in trip_asset_keys(YELLOW).values()]

    backfill_id = launch_backfill(dagster_dev, keys, [good, truncated, unpublished])
    assert wait_backfill(dagster_dev, backfill_id, timeout=600) in ("COMPLETED_FAILED", "FAILED")

    counts = layer_counts(local_resources, YELLOW, good)
    assert counts["bigquery_rows"] == counts["postgres_rows"] == 0
    with dg.DagsterInstance.get() as instance:
        for key in trip_asset_keys(YELLOW).values():
            materialized = instance.get_materialized_partitions(key)
            assert not {good, truncated, unpublished} & materialized, key
        failures = _failures(instance, backfill_id)
    assert set(failures) == {good}  # one run, its range starting at the good month
    [message] = failures[good]
    assert len(message.strip().splitlines()) == 1
    assert f"yellow {truncated}: " in message and cut.name in message
    assert f"yellow {unpublished}: not published yet" in message
    assert f"yellow {good}" not in message
