"""A multi-month backfill launched through the GraphQL API of a running `dg dev`."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest

from devstack.dagster_ui import launch_backfill, wait_backfill
from devstack.report import layer_counts
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
