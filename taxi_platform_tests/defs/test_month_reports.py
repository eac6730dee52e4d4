"""What a run of several months records on each month, read back from the instance as the UI
reads it: data versions, metadata and check executions."""

import warnings
from collections.abc import Iterator

import dagster as dg
import pytest

from taxi_platform.defs.month_runs import MonthReport, month_events, record_checks, report_months

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


BLOCKING, WARNING = "blocking_check", "warning_check"
CHECKS = [
    dg.AssetCheckSpec(BLOCKING, asset=KEY, partitions_def=MONTHS, blocking=True),
    dg.AssetCheckSpec(WARNING, asset=KEY, partitions_def=MONTHS),
]
FAILING = "2021-02"  # fails the blocking check in `failing`


def _checked_reports(context: dg.AssetExecutionContext, failing: str = "") -> list[MonthReport]:
    return [
        MonthReport(
            month,
            {"rows": 10},
            0.1,
            checks=[
                dg.AssetCheckResult(
                    asset_key=KEY, check_name=BLOCKING, passed=month != failing, metadata={"m": 1}
                ),
                dg.AssetCheckResult(
                    asset_key=KEY,
                    check_name=WARNING,
                    passed=True,
                    severity=dg.AssetCheckSeverity.WARN,
                ),
            ],
        )
        for month in context.partition_keys
    ]


@dg.asset(key=KEY, partitions_def=MONTHS, check_specs=CHECKS)
def checked(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Returns its results, as the GCS and warehouse assets do."""
    return report_months(context, _checked_reports(context))


@dg.asset(key=KEY, partitions_def=MONTHS, check_specs=CHECKS)
def yielding(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult | dg.Output]:
    """Yields its results, as the lake asset does."""
    yield from month_events(context, _checked_reports(context))


@dg.asset(key=KEY, partitions_def=MONTHS, check_specs=CHECKS)
def failing(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return report_months(context, _checked_reports(context, failing=FAILING))


def _executions(instance: dg.DagsterInstance, name: str) -> list[tuple[str | None, str]]:
    """The check's executions, newest first: (partition, status)."""
    history = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(KEY, name), limit=100
    )
    return [(record.partition, record.status.value) for record in history]


def _latest_execution(instance: dg.DagsterInstance, name: str) -> str | None:
    """The partition of the check's latest execution: what the Checks tab shows as its
    latest (the UI reads `get_latest_asset_check_execution_by_key`)."""
    key = dg.AssetCheckKey(KEY, name)
    return instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key].partition


@pytest.mark.parametrize("asset", [checked, yielding], ids=["returns", "yields"])
def test_the_latest_check_execution_of_a_batch_is_its_newest_months(
    instance: dg.DagsterInstance, asset: dg.AssetsDefinition
) -> None:
    _run(instance, asset, "2021-01", "2021-03")

    for name in (BLOCKING, WARNING):
        assert _latest_execution(instance, name) == "2021-03", name
        assert _executions(instance, name) == [
            ("2021-03", "SUCCEEDED"),
            ("2021-02", "SUCCEEDED"),
            ("2021-01", "SUCCEEDED"),
        ], name  # each month's own, and no partition-less summary
    evaluation = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(KEY, BLOCKING), limit=1
    )[0].event.dagster_event.event_specific_data
    assert evaluation.blocking and evaluation.metadata["m"].value == 1


def test_a_month_run_alone_records_its_checks_on_its_month(instance: dg.DagsterInstance) -> None:
    assert dg.materialize([checked], instance=instance, partition_key="2021-05").success

    assert _executions(instance, BLOCKING) == [("2021-05", "SUCCEEDED")]


def test_a_month_failing_a_blocking_check_fails_the_batch_naming_it(
    instance: dg.DagsterInstance,
) -> None:
    tags = {
        "dagster/asset_partition_range_start": "2021-01",
        "dagster/asset_partition_range_end": "2021-03",
    }
    result = dg.materialize([failing], instance=instance, tags=tags, raise_on_error=False)

    assert not result.success  # as Dagster fails a step on a failed blocking check
    assert set(_materializations(instance)) == {"2021-01", "2021-02", "2021-03"}
    executions = _executions(instance, BLOCKING)
    assert (FAILING, "FAILED") in executions and ("2021-03", "SUCCEEDED") in executions
    (summary,) = [
        e
        for e in instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(KEY, BLOCKING), limit=100
        )
        if e.partition is None
    ]  # the step-level result Dagster fails the step on
    assert (
        summary.event.dagster_event.event_specific_data.metadata["failed_months"].value == FAILING
    )
    assert _executions(instance, WARNING)[0] == ("2021-03", "SUCCEEDED")


@dg.asset(key=KEY, partitions_def=MONTHS, check_specs=CHECKS)
def refusing(context: dg.AssetExecutionContext) -> Iterator[dg.AssetCheckResult]:
    """Records its checks and fails by itself, as the lake asset does on a bad month."""
    yield from record_checks(context, _checked_reports(context, failing=FAILING), failing=True)
    raise dg.Failure(description=f"{FAILING} failed blocking checks", allow_retries=False)


def test_a_batch_failing_by_itself_records_only_its_months_checks(
    instance: dg.DagsterInstance,
) -> None:
    tags = {
        "dagster/asset_partition_range_start": "2021-01",
        "dagster/asset_partition_range_end": "2021-03",
    }
    assert not dg.materialize(
        [refusing], instance=instance, tags=tags, raise_on_error=False
    ).success

    assert _executions(instance, BLOCKING) == [
        ("2021-03", "SUCCEEDED"),
        (FAILING, "FAILED"),
        ("2021-01", "SUCCEEDED"),
    ]
    assert _latest_execution(instance, BLOCKING) == "2021-03"
