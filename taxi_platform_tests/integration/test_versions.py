"""A versioned lake on the real services: a re-issued month is a new version in every layer
with the old one kept and the change reported; the same bytes again are no new version and
reload nothing; a run with config rolls a month back in every layer."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest

from devstack.sample_data import write_month
from taxi_platform import catalog
from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import SourceDownloader, resources_for
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys
from taxi_platform.lib.versions import MonthVersions, file_sha256, version_of
from taxi_platform.lib.warehouse import bigquery as bigquery_engine
from taxi_platform.lib.warehouse import postgres as postgres_engine

pytestmark = pytest.mark.integration
RAW_OP = "raw__yellow__yellow_trips_raw"


def _land(month: str, **overrides: Any) -> dict[str, dg.AssetMaterialization]:
    """Every layer of yellow `month`; each layer's materialization, by layer."""
    result = dg.materialize(
        build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR),
        partition_key=month,
        resources={**resources_for("local"), **overrides.pop("resources", {})},
        instance=dg.DagsterInstance.ephemeral(),
        **overrides,
    )
    assert result.success
    by_key = {e.asset_key: e.materialization for e in result.get_asset_materialization_events()}
    return {layer: by_key[key] for layer, key in trip_asset_keys(YELLOW).items()}


def _held(resources: dict[str, Any], month: str) -> tuple[str | None, str | None]:
    """The version BigQuery and PostgreSQL say they hold for the month."""
    table = catalog.trips_table(YELLOW)
    bq, pg = resources["bigquery"], resources["postgres"]
    with bq.get_client() as client:
        in_bigquery = bigquery_engine.held_versions(client, bq.dataset_id, table, [month])[month]
    with pg.connect() as conn:
        in_postgres = postgres_engine.held_versions(conn, pg.schema, table, [month])[month]
    return in_bigquery, in_postgres


def _postgres_fares(resources: dict[str, Any], month: str) -> float:
    pg = resources["postgres"]
    query = f"SELECT sum(total_amount) FROM {pg.schema}.yellow_trips WHERE source_month = %s"
    with pg.connect() as conn:
        return round(conn.execute(query, (f"{month}-01",)).fetchone()[0], 2)


def _publish(mirror: Path, month: str, rows: int, seed: int) -> str:
    """(Re)publish the month on the mirror; its version name."""
    return version_of(file_sha256(write_month(YELLOW, month, rows, mirror, seed=seed)))


def test_a_reissued_month_is_a_new_version_everywhere_and_the_same_bytes_are_not(
    stack_dir: Path, local_resources: dict[str, Any]
) -> None:
    month, mirror = "2021-09", stack_dir / "mirror"
    first = _publish(mirror, month, 1_500, seed=1)
    _land(month)
    second = _publish(mirror, month, 1_600, seed=2)  # the TLC re-issues the month

    events = _land(month)

    store = MonthVersions(local_resources["lake"].path, YELLOW, month)
    manifest = store.read()
    assert (manifest.current, manifest.published) == (second, second)
    assert {v.version for v in manifest.versions} == {first, second}
    clean = catalog.clean_path(local_resources["lake"].path, YELLOW, month)
    assert pq.read_metadata(store.path(first, clean.name)).num_rows == 1_500  # the old one kept
    assert _held(local_resources, month) == (second, second)
    assert events["raw"].tags["dagster/data_version"] == manifest.get(second).sha256
    lake = events["lake"].metadata
    assert lake["previous_version"].value == first and lake["version"].value == second
    assert lake["rows_added"].value > 0 and lake["rows_removed"].value > 0
    assert lake["money_before"].value != lake["money_after"].value
    version = manifest.get(second)
    assert version.lake_rows == 1_600 and version.schema_era and version.gcs_generation
    assert version.money["total_amount"] == _postgres_fares(local_resources, month)

    # The same bytes again (fetched anyway): no new version, nothing loaded again.
    downloader = SourceDownloader(base_url=os.environ["TLC_BASE_URL"], force_download=True)
    again = _land(month, resources={"downloader": downloader})

    assert again["raw"].metadata["downloaded"].value is True
    assert again["raw"].metadata["unchanged"].value is True
    assert again["raw"].tags["dagster/data_version"] == version.sha256
    assert len(store.read().versions) == 2
    for layer in ("bigquery", "postgres"):
        assert again[layer].metadata["loaded"].value is False, layer


def test_a_run_with_config_rolls_a_month_back_in_every_layer(
    stack_dir: Path, local_resources: dict[str, Any]
) -> None:
    month, mirror = "2021-10", stack_dir / "mirror"
    first = _publish(mirror, month, 1_200, seed=3)
    _land(month)
    kept = MonthVersions(local_resources["lake"].path, YELLOW, month).read().get(first)
    _publish(mirror, month, 1_300, seed=4)
    _land(month)

    config = {"ops": {RAW_OP: {"config": {"restore_version": first}}}}
    events = _land(month, run_config=config)

    manifest = MonthVersions(local_resources["lake"].path, YELLOW, month).read()
    assert (manifest.current, manifest.published) == (first, first)
    assert events["raw"].tags["dagster/data_version"] == kept.sha256
    assert events["raw"].metadata["restored"].value is True
    assert _held(local_resources, month) == (first, first)
    for layer in ("lake", "bigquery", "postgres"):
        assert events[layer].metadata["month_row_count"].value == 1_200, layer
    assert _postgres_fares(local_resources, month) == kept.money["total_amount"]
