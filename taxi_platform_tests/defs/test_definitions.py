"""The code location loads and lists every layer of every dataset."""

from __future__ import annotations

import dagster as dg

from taxi_platform.catalog import DATASETS
from taxi_platform.definitions import build_definitions
from taxi_platform.defs.trips import trip_asset_keys


def test_definitions_validate() -> None:
    dg.Definitions.validate_loadable(build_definitions())


def test_every_dataset_has_every_layer_and_a_monthly_job() -> None:
    defs = build_definitions()
    graph_keys = defs.resolve_asset_graph().get_all_asset_keys()
    for ds in DATASETS:
        assert set(trip_asset_keys(ds).values()) <= graph_keys
        assert defs.resolve_job_def(f"{ds.name}_monthly").partitions_def is not None


def test_monthly_assets_share_one_partitioning() -> None:
    graph = build_definitions().resolve_asset_graph()
    partitionings = {
        graph.get(key).partitions_def for ds in DATASETS for key in trip_asset_keys(ds).values()
    }
    assert len(partitionings) == 1
