"""The Dagster UI in a real browser, checked as a person would: the asset graph, an asset's
partitions, a month materialized from the UI, and a backfill whose every month shows its own
numbers and checks. Screenshots land in taxi_platform_tests/artifacts/.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devstack.dagster_ui import graphql, launch_backfill, launch_job_backfill, wait_backfill
from devstack.sample_data import write_month
from taxi_platform.catalog import DATASETS, FHV, YELLOW, trips_table
from taxi_platform.defs.checks import PICKUP_IN_MONTH
from taxi_platform.defs.trips import trip_asset_keys
from taxi_platform.settings import load_settings, warehouse_tables

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.integration

LOCATION = "taxi_platform"
UI_MONTH = "2021-02"  # materialized from the UI; the fixtures seed another month
RUN_TIMEOUT_S = 240
LOADING = re.compile(r"^Loading")
_ASSET_GROUPS = "{ assetNodes { assetKey { path } groupName } }"
_RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter, limit: 50) {
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""
_PARTITIONS = """
query Materialized($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      assetPartitionStatuses {
        ... on TimePartitionStatuses { ranges { startKey endKey status } }
      }
    }
  }
}
"""


def _expect():
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)  # two cores: a page may take a while to load its data
    return expect


def _groups(url: str) -> dict[str, list[list[str]]]:
    groups: dict[str, list[list[str]]] = defaultdict(list)
    for node in graphql(url, _ASSET_GROUPS, {})["assetNodes"]:
        groups[node["groupName"]].append(node["assetKey"]["path"])
    return groups


def _ui_runs(url: str, month: str) -> dict[str, str]:
    tags = [
        {"key": "dagster/partition", "value": month},
        {"key": "dagster/from_ui", "value": "true"},
    ]
    runs = graphql(url, _RUNS, {"filter": {"tags": tags}})["runsOrError"]["results"]
    return {run["runId"]: run["status"] for run in runs}


def _is_materialized(url: str, key: list[str], month: str) -> bool:
    node = graphql(url, _PARTITIONS, {"key": {"path": key}})["assetNodeOrError"]
    ranges = node["assetPartitionStatuses"]["ranges"]
    return any(
        r["status"] == "MATERIALIZED" and r["startKey"] <= month <= r["endKey"] for r in ranges
    )


def test_asset_graph_shows_every_layer_of_every_dataset(
    page: Page, dagster_ui: str, artifacts: Path
) -> None:
    expect = _expect()
    groups = _groups(dagster_ui)
    labels = [path[-1] for paths in groups.values() for path in paths]
    assert len(labels) == len(set(labels)), sorted(labels)  # what nodes and search show

    for ds in DATASETS:
        keys = trip_asset_keys(ds)
        assert {tuple(k.path) for k in keys.values()} <= {tuple(p) for p in groups[ds.name]}
        page.goto(f"{dagster_ui}/locations/{LOCATION}/asset-groups/{ds.name}")
        # Each node is labelled with its key's last part, which no other asset shares.
        for key in keys.values():
            expect(page.get_by_text(key.path[-1], exact=True).first).to_be_visible()
        for kind in ("GCS", "BigQuery", "Postgres"):
            expect(page.get_by_text(kind, exact=True).first).to_be_visible()
        expect(page.get_by_text(LOADING)).to_have_count(0)  # every node shows its status
        page.screenshot(path=artifacts / f"graph_{ds.name}.png")

    page.goto(f"{dagster_ui}/asset-groups")  # the global lineage, one box per group
    for group in groups:
        expect(page.get_by_text(group, exact=True).first).to_be_visible()
    page.screenshot(path=artifacts / "lineage.png")

    for group, paths in sorted(groups.items()):
        page.goto(f"{dagster_ui}/locations/{LOCATION}/asset-groups/{group}/list")
        for path in paths:
            # Long keys are truncated in the middle on screen: find each row by its link.
            link = page.locator(f'a[href$="/assets/{"/".join(path)}"]').filter(visible=True)
            expect(link.first).to_be_visible()
        page.screenshot(path=artifacts / f"list_{group}.png", full_page=True)


def _open_partitions(page: Page, url: str, key: list[str], month: str, shows: str) -> None:
    """The asset's Partitions tab, missing months hidden, `month` selected and its metadata
    (with the entry `shows`) loaded."""
    expect = _expect()
    page.goto(f"{url}/assets/{'/'.join(key)}?view=partitions")
    expect(page.get_by_role("checkbox", name="Missing", exact=False)).to_be_checked()
    page.locator("label", has_text="Missing (").click()  # show materialized months only
    expect(page.get_by_role("checkbox", name="Missing", exact=False)).not_to_be_checked()
    row = page.get_by_text(month, exact=True).first
    expect(row).to_be_visible()
    row.click()
    expect(page.get_by_text("Latest materialization", exact=True)).to_be_visible()
    expect(page.get_by_text(shows, exact=True).first).to_be_visible()


def test_partitions_page_shows_the_materialized_month(
    page: Page, dagster_ui: str, seeded_month: str, artifacts: Path
) -> None:
    expect = _expect()
    lake = trip_asset_keys(YELLOW)["lake"].path

    _open_partitions(page, dagster_ui, lake, seeded_month, shows="rows_read")

    expect(page.get_by_text("Materialized (", exact=False)).not_to_have_text("Materialized (0)")
    for metadata_key in ("rows_read", "rejected_rows", "bytes"):
        expect(page.get_by_text(metadata_key, exact=True).first).to_be_visible()
    page.screenshot(path=artifacts / "partitions_clean_yellow.png", full_page=True)


def test_materialize_one_month_from_the_ui(
    page: Page, dagster_ui: str, seeded_month: str, artifacts: Path
) -> None:
    expect = _expect()
    before = set(_ui_runs(dagster_ui, UI_MONTH))
    page.goto(f"{dagster_ui}/locations/{LOCATION}/asset-groups/{YELLOW.name}")

    page.get_by_role("button", name="Materialize all…").click()
    dialog = page.get_by_role("dialog")
    months = dialog.get_by_placeholder("ex: ", exact=False)
    months.fill(UI_MONTH)
    months.press("Enter")
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    page.screenshot(path=artifacts / "materialize_dialog.png")
    dialog.get_by_role("button", name="Launch 1 run").click()
    expect(page.get_by_text("Launched run", exact=False)).to_be_visible()

    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        runs = {k: v for k, v in _ui_runs(dagster_ui, UI_MONTH).items() if k not in before}
        if runs and all(s in ("SUCCESS", "FAILURE", "CANCELED") for s in runs.values()):
            break
        assert time.monotonic() < deadline, f"run(s) {runs} not finished in {RUN_TIMEOUT_S}s"
        time.sleep(2)
    assert list(runs.values()) == ["SUCCESS"]
    for key in trip_asset_keys(YELLOW).values():
        assert _is_materialized(dagster_ui, key.path, UI_MONTH), key.to_user_string()

    [run_id] = runs
    page.goto(f"{dagster_ui}/runs/{run_id}")
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    page.screenshot(path=artifacts / "run_from_ui.png")
    _open_partitions(
        page, dagster_ui, trip_asset_keys(YELLOW)["postgres"].path, UI_MONTH, "seconds"
    )
    expect(page.get_by_text(seeded_month, exact=True).first).to_be_visible()
    page.screenshot(path=artifacts / "partitions_after_ui_run.png", full_page=True)


_MONTH_ROWS = """
query Rows($key: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(partitions: $partitions) {
        partition
        metadataEntries { label ... on IntMetadataEntry { intValue } }
      }
    }
  }
}
"""
_CHECK_HISTORY = """
query Checks($key: AssetKeyInput!, $name: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $name, limit: 50) {
    evaluation { partition success }
  }
}
"""


_LATEST_CHECKS = """
query LatestChecks($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      assetChecksOrError {
        ... on AssetChecks {
          checks { name executionForLatestMaterialization { evaluation { partition } } }
        }
      }
    }
  }
}
"""


def _latest_check_partitions(url: str, key: list[str]) -> dict[str, str | None]:
    """Each check's latest execution's partition, as the Checks tab shows it."""
    node = graphql(url, _LATEST_CHECKS, {"key": {"path": key}})["assetNodeOrError"]
    return {
        check["name"]: (check["executionForLatestMaterialization"] or {"evaluation": {}})[
            "evaluation"
        ].get("partition")
        for check in node["assetChecksOrError"]["checks"]
    }


def _row_counts(url: str, key: list[str], months: list[str]) -> dict[str, int]:
    """Each month's latest `month_row_count`, as the UI's metadata plot reads it."""
    mats = graphql(url, _MONTH_ROWS, {"key": {"path": key}, "partitions": months})
    counts: dict[str, int] = {}
    for mat in sorted(mats["assetOrError"]["assetMaterializations"], key=lambda m: m["partition"]):
        for entry in mat["metadataEntries"]:
            if entry["label"] == "month_row_count":
                counts[mat["partition"]] = entry["intValue"]
    return counts


def test_a_backfill_shows_each_months_own_numbers_and_checks(
    page: Page, dagster_ui: str, stack_dir: Path, artifacts: Path
) -> None:
    expect = _expect()
    rows = {"2021-04": 1_000, "2021-05": 1_500, "2021-06": 2_500}
    bad = "2021-07"  # a third of its pickups in another month: fails pickup_in_month
    for month, n in rows.items():
        write_month(YELLOW, month, n, stack_dir / "mirror")
    write_month(YELLOW, bad, 1_200, stack_dir / "mirror", out_of_month_share=0.3)
    lake = trip_asset_keys(YELLOW)["lake"].path

    keys = [key.path for key in trip_asset_keys(YELLOW).values()]
    batch = launch_backfill(dagster_ui, keys, list(rows))  # one run lands the three months
    assert wait_backfill(dagster_ui, batch, timeout=RUN_TIMEOUT_S * 2) == "COMPLETED_SUCCESS"
    newest = list(rows)[-1]  # the batch's checks show a month, never a partition-less summary
    assert set(_latest_check_partitions(dagster_ui, lake).values()) == {newest}
    page.goto(f"{dagster_ui}/assets/{'/'.join(lake)}?view=checks")
    page.get_by_text(PICKUP_IN_MONTH, exact=True).first.click()
    expect(page.get_by_text(newest, exact=True).first).to_be_visible()
    page.screenshot(path=artifacts / "batch_check_latest_is_a_month.png", full_page=True)
    backfill = launch_job_backfill(dagster_ui, "yellow_monthly", [bad])
    assert wait_backfill(dagster_ui, backfill, timeout=RUN_TIMEOUT_S * 2) != "CANCELED"

    counts = _row_counts(dagster_ui, lake, [*rows, bad])
    assert counts == {m: n for m, n in rows.items()}  # own counts; the bad month never landed
    history = graphql(dagster_ui, _CHECK_HISTORY, {"key": {"path": lake}, "name": PICKUP_IN_MONTH})[
        "assetCheckExecutions"
    ]
    verdicts = {
        e["evaluation"]["partition"]: e["evaluation"]["success"] for e in history if e["evaluation"]
    }
    assert verdicts[bad] is False
    assert all(verdicts[m] for m in rows)

    page.goto(f"{dagster_ui}/assets/{'/'.join(lake)}")
    page.get_by_role("button", name="Plots").click()  # metadata plotted over partitions
    plot = page.get_by_text("month_row_count", exact=True).first
    expect(plot).to_be_visible()
    plot.scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "lake_row_count_plot.png")
    page.goto(f"{dagster_ui}/assets/{'/'.join(lake)}?view=checks")
    page.get_by_text(PICKUP_IN_MONTH, exact=True).first.click()
    expect(page.get_by_text("Partition", exact=True).first).to_be_visible()
    expect(page.get_by_text(bad, exact=True).first).to_be_visible()
    page.screenshot(path=artifacts / "failed_check_names_its_month.png", full_page=True)


def test_a_table_lists_described_columns_before_it_is_materialized(
    page: Page, dagster_ui: str, artifacts: Path
) -> None:
    expect = _expect()
    table = trip_asset_keys(FHV)["bigquery"].path
    assert not _row_counts(dagster_ui, table, ["2021-01"])  # never materialized here

    page.goto(f"{dagster_ui}/assets/{'/'.join(table)}")
    expect(page.get_by_text("Never materialized", exact=True).first).to_be_visible()
    full_name = warehouse_tables(load_settings()).name("bigquery", trips_table(FHV))
    expect(page.get_by_text(full_name, exact=True).first).to_be_visible()  # storage
    for column in FHV.landed_columns[:3]:
        expect(page.get_by_text(column.name, exact=True).first).to_be_visible()
        expect(page.get_by_text(column.description, exact=True).first).to_be_visible()
    page.screenshot(path=artifacts / "fhv_bigquery_columns.png", full_page=True)
