"""What a run of several months records on each month, read back from the instance as the UI
reads it: data versions, metadata and check executions."""

import warnings
from collections.abc import Iterator

import dagster as dg
import pytest

from taxi_platform.defs.month_runs import MonthReport, report_months

warnings.filterwarnings("ignore", message=".*AssetCheckSpec.*", category=dg.PreviewWarning)

MONTHS = dg.MonthlyPartitionsDefinition(start_date="2021-01", end_date="2021-07", fmt="%Y-%m")
KEY = dg.AssetKey(["probe"])
CODE_VERSION = "v1"


@dg.asset(key=KEY, partitions_def=MONTHS, code_version=CODE_VERSION)
def versioned(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Each month with its own data version, as the raw asset reports its file's sha256."""
    reports = [
        MonthReport(month, {"rows": 10}, 0.1, data_version=dg.DataVersion(f"sha-{month}"))
        for month in context.partition_keys
    ]
    return report_months(context, reports)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def _run(instance: dg.DagsterInstance, asset: dg.AssetsDefinition, first: str, last: str) -> None:
    """One run of the months `first`..`last`, as a backfill batch launches it."""
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    assert dg.materialize([asset], instance=instance, tags=tags).success


def _materializations(instance: dg.DagsterInstance) -> dict[str, dg.AssetMaterialization]:
    records = instance.fetch_materializations(KEY, limit=100).records
    latest: dict[str, dg.AssetMaterialization] = {}
    for record in reversed(records):  # oldest first: the latest one per month wins
        materialization = record.asset_materialization
        assert materialization is not None and materialization.partition is not None
        latest[materialization.partition] = materialization
    return latest


def test_a_month_run_alone_carries_its_own_data_version(instance: dg.DagsterInstance) -> None:
    assert dg.materialize([versioned], instance=instance, partition_key="2021-02").success

    assert _materializations(instance)["2021-02"].tags["dagster/data_version"] == "sha-2021-02"


def test_a_batch_of_one_month_carries_the_months_data_version(
    instance: dg.DagsterInstance,
) -> None:
    _run(instance, versioned, "2021-03", "2021-03")

    assert _materializations(instance)["2021-03"].tags["dagster/data_version"] == "sha-2021-03"


def test_a_batch_says_its_data_version_is_the_batchs_and_shows_each_months_own(
    instance: dg.DagsterInstance,
) -> None:
    _run(instance, versioned, "2021-01", "2021-03")

    shown = _materializations(instance)
    versions = {month: m.tags["dagster/data_version"] for month, m in shown.items()}
    (batch,) = set(versions.values())  # Dagster records one data version per run
    assert batch.startswith("batch 2021-01..2021-03 ")
    assert batch != CODE_VERSION
    for month, materialization in shown.items():
        assert materialization.metadata["month_data_version"].value == f"sha-{month}"
        scope = materialization.metadata["data_version_scope"].value
        assert "batch 2021-01..2021-03" in scope and "month_data_version" in scope


def test_the_same_batch_again_keeps_its_data_version(instance: dg.DagsterInstance) -> None:
    _run(instance, versioned, "2021-01", "2021-03")
    before = _materializations(instance)["2021-02"].tags["dagster/data_version"]

    _run(instance, versioned, "2021-01", "2021-03")

    assert _materializations(instance)["2021-02"].tags["dagster/data_version"] == before
