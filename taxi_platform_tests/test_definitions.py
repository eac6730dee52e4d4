"""The code location loads and lists every layer of every dataset."""

from __future__ import annotations

import dagster as dg

from taxi_platform.datasets import DATASETS
from taxi_platform.definitions import defs
from taxi_platform.pipeline.factory import asset_keys


def test_definitions_validate() -> None:
    dg.Definitions.validate_loadable(defs)


def test_every_dataset_has_every_layer_and_a_monthly_job() -> None:
    graph_keys = defs.resolve_asset_graph().get_all_asset_keys()
    for ds in DATASETS:
        assert set(asset_keys(ds).values()) <= graph_keys
        assert defs.resolve_job_def(f"{ds.name}_monthly").partitions_def is not None


def test_monthly_assets_share_one_partitioning() -> None:
    graph = defs.resolve_asset_graph()
    partitionings = {
        graph.get(key).partitions_def for ds in DATASETS for key in asset_keys(ds).values()
    }
    assert len(partitionings) == 1
