"""The code location loads and lists every layer of every dataset."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from taxi_platform.catalog import COURSE_MIRROR, DATASETS, FHVHV, TLC, Source
from taxi_platform.definitions import build_definitions
from taxi_platform.defs.freshness import SOURCE_FRESHNESS
from taxi_platform.defs.trips import trip_asset_keys


def test_definitions_validate() -> None:
    dg.Definitions.validate_loadable(build_definitions())


def test_every_dataset_has_every_layer_and_a_monthly_job() -> None:
    defs = build_definitions()
    graph_keys = defs.resolve_asset_graph().get_all_asset_keys()
    for ds in DATASETS:
        assert set(trip_asset_keys(ds).values()) <= graph_keys
        assert defs.resolve_job_def(f"{ds.name}_monthly").partitions_def is not None


NOW = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.mark.parametrize("source", [TLC, COURSE_MIRROR])
def test_partitions_run_from_each_datasets_first_month_to_the_newest_published(
    source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAXI_SOURCE", source.name)
    monkeypatch.delenv("TAXI_LAST_MONTH", raising=False)
    graph = build_definitions(now=NOW).resolve_asset_graph()

    newest = source.last_month or "2026-09"  # two months of publication lag before 2026-11
    for ds in DATASETS:
        [partitions] = {graph.get(key).partitions_def for key in trip_asset_keys(ds).values()}
        keys = partitions.get_partition_keys(current_time=NOW)
        assert (keys[0], keys[-1]) == (source.first_months[ds.name], newest)


def test_the_publication_lag_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXI_PUBLICATION_LAG_MONTHS", "1")
    monkeypatch.delenv("TAXI_LAST_MONTH", raising=False)
    graph = build_definitions(now=NOW).resolve_asset_graph()

    partitions = graph.get(trip_asset_keys(FHVHV)["raw"]).partitions_def
    assert partitions.get_partition_keys(current_time=NOW)[-1] == "2026-10"


def test_an_unknown_source_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXI_SOURCE", "s3")

    with pytest.raises(ValueError, match="TAXI_SOURCE must be one of tlc, course-mirror"):
        build_definitions()


def test_no_two_assets_share_a_label() -> None:
    """The UI labels a node and a search result by the key's last component alone."""
    keys = build_definitions().resolve_asset_graph().get_all_asset_keys()
    labels = [key.path[-1] for key in keys]
    assert len(labels) == len(set(labels)), sorted(labels)


def test_every_warehouse_table_names_itself_and_describes_its_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GCP_PROJECT", "taxi-prod")
    monkeypatch.setenv("PG_DATABASE", "trips")
    specs = build_definitions().resolve_all_asset_specs()
    tables = [s for s in specs if s.kinds & {"bigquery", "postgres"}]
    assert len(tables) == 2 * (len(DATASETS) + 2)  # trips, zones and the mart in each engine
    names = [spec.metadata["dagster/table_name"] for spec in tables]
    assert len(set(names)) == len(names), names  # no two assets link as one table in the UI
    for spec in tables:
        where = spec.key.to_user_string()
        # BigQuery's project.dataset.table, PostgreSQL's database.schema.table
        qualifier = "taxi-prod.taxi." if "bigquery" in spec.kinds else "trips.taxi."
        assert spec.metadata["dagster/table_name"].startswith(qualifier), where
        assert spec.metadata["dagster/table_name"].count(".") == 2, where
        columns = spec.metadata["dagster/column_schema"].columns
        assert columns, where
        assert all(c.description for c in columns), where


def test_a_backfill_runs_batches_of_the_set_months_and_checks_are_per_month(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TAXI_BACKFILL_MONTHS_PER_RUN", "6")
    graph = build_definitions().resolve_asset_graph()
    for ds in DATASETS:
        for key in trip_asset_keys(ds).values():
            node = graph.get(key)
            assert node.backfill_policy == dg.BackfillPolicy.multi_run(6), key
            # Every check is per month, but the freshness check, which judges the dataset.
            for check_key in node.check_keys - {dg.AssetCheckKey(key, SOURCE_FRESHNESS)}:
                assert graph.get(check_key).partitions_def == node.partitions_def, check_key


def test_every_asset_declares_a_code_version() -> None:
    """So the UI marks a month unsynced when the code that made it changed."""
    specs = build_definitions().resolve_all_asset_specs()
    assert [s.key for s in specs if not s.code_version] == []
