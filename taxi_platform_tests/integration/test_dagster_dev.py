"""`dg dev` serves the code location from workspace.yaml, backed by the local services."""

from __future__ import annotations

import pytest

from devstack.dagster_ui import graphql
from taxi_platform.catalog import DATASETS
from taxi_platform.defs.trips import trip_asset_keys

pytestmark = pytest.mark.integration

_ASSETS_AND_JOBS = """
{
  assetNodes { assetKey { path } }
  repositoriesOrError { ... on RepositoryConnection { nodes { jobs { name } } } }
}
"""


def test_workspace_loads_every_asset_and_job(dagster_dev: str) -> None:
    data = graphql(dagster_dev, _ASSETS_AND_JOBS, {})

    served = {tuple(node["assetKey"]["path"]) for node in data["assetNodes"]}
    jobs = {job["name"] for repo in data["repositoriesOrError"]["nodes"] for job in repo["jobs"]}
    for ds in DATASETS:
        assert {tuple(key.path) for key in trip_asset_keys(ds).values()} <= served
        assert f"{ds.name}_monthly" in jobs
