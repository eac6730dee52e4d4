"""How a run lands its months: the backfill policy that batches them, the wrapper every trip
asset runs each month's work in, so that any failure is one line naming dataset and month,
and the report that puts each month's numbers and checks on its own partition."""

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import dagster as dg

from taxi_platform.defs.metadata import Metadata, without_empty_entries
from taxi_platform.lib.lake import SourceFileError
from taxi_platform.lib.marts import MissingInputError
from taxi_platform.lib.source import DownloadError, NotPublishedError
from taxi_platform.lib.warehouse.errors import permanent
from taxi_platform.settings import Settings

SINK_RETRY = dg.RetryPolicy(
    max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
# Bad input (a source file, or a mart's input table, missing or broken): failing again at once
# cannot help. Nor can a permanent warehouse error (`_attempt`).
BAD_INPUT = (
    NotPublishedError,
    DownloadError,
    SourceFileError,
    FileNotFoundError,
    MissingInputError,
)
T = TypeVar("T")


def backfill_policy(settings: Settings) -> dg.BackfillPolicy:
    """A backfill launches one run per `TAXI_BACKFILL_MONTHS_PER_RUN` months."""
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=settings.backfill_months_per_run)


@dataclass(frozen=True)
class MonthRun(Generic[T]):
    """What the work for one of the run's months returned, and how long it took."""

    month: str
    value: T
    seconds: float


def run_months(
    context: dg.AssetExecutionContext, what: str, work: Callable[[str], T]
) -> list[MonthRun[T]]:
    """Run `work` for each of the run's months, oldest first. Bad input fails without retries,
    after the other months are tried, in one line naming `what` (the dataset, or the mart),
    each bad month, its file and reason; any other error (a sink down) names them too and
    may be retried."""
    runs, bad = [], []
    for month in context.partition_keys:
        try:
            runs.append(_run_month(context, what, month, work))
        except BAD_INPUT as err:
            bad.append(f"{what} {month}: {err}")
    if bad:
        raise dg.Failure(description="; ".join(bad), allow_retries=False)
    return runs


def _run_month(
    context: dg.AssetExecutionContext, what: str, month: str, work: Callable[[str], T]
) -> MonthRun[T]:
    started = time.monotonic()
    value = _attempt(context, f"{what} {month}", lambda: work(month))
    return MonthRun(month, value, round(time.monotonic() - started, 3))


def run_batch(
    context: dg.AssetExecutionContext, what: str, work: Callable[[list[str]], dict[str, T]]
) -> list[MonthRun[T]]:
    """Run `work` once for all of the run's months (one load job, one transaction); each month
    gets its value and its share of the seconds. A failure names `what` and the months."""
    months = list(context.partition_keys)
    label = f"{what} {months[0]}" + (f"..{months[-1]}" if len(months) > 1 else "")
    started = time.monotonic()
    try:
        values = _attempt(context, label, lambda: work(months))
    except BAD_INPUT as err:
        raise dg.Failure(description=f"{label}: {err}", allow_retries=False) from err
    seconds = round((time.monotonic() - started) / len(months), 3)
    return [MonthRun(month, values[month], seconds) for month in months]


def _attempt(context: dg.AssetExecutionContext, label: str, work: Callable[[], T]) -> T:
    """`work()`; bad input passes as it is, any other error becomes one line naming `label`,
    the step, the attempt and the cause. An error that cannot succeed on a retry (an invalid
    request, bad credentials, a missing permission, a schema mismatch: `errors.permanent`)
    fails at once; a transient one (a sink down) may be retried."""
    try:
        return work()
    except (*BAD_INPUT, dg.Failure):
        raise
    except Exception as err:
        reason = (str(err).strip().splitlines() or [""])[0][:200]
        lasting = permanent(err)
        attempt = f"attempt {context.retry_number + 1}" + (", not retried" if lasting else "")
        retries_left = not lasting and context.retry_number < SINK_RETRY.max_retries
        raise dg.Failure(
            description=f"{label}: {context.op_def.name} failed ({attempt}):"
            f" {type(err).__name__}: {reason}",
            allow_retries=retries_left,  # the last attempt's failure is what the run shows
        ) from err


@dataclass(frozen=True)
class MonthReport:
    """One month's metadata, check results and data version, for its own partition."""

    month: str
    metadata: Metadata
    seconds: float
    checks: Sequence[dg.AssetCheckResult] = ()
    data_version: dg.DataVersion | None = None


MonthsResult = dg.MaterializeResult | tuple[dg.MaterializeResult | dg.Output, ...]
"""What an asset returns for its months: the materialization, and, for a range of months,
the outputs of its checks that no step-level result settles."""


def report_months(
    context: dg.AssetExecutionContext, reports: Sequence[MonthReport]
) -> MonthsResult:
    """The materialization of the run's months, each with its own numbers and check results.

    A run of one partition reports as Dagster does. A run of a range of months (a backfill
    batch, even of one month) adds each month's metadata to its own partition and records
    each month's check evaluations on it, so a check's latest execution is a month's (the
    newest); the step itself yields a result only for a blocking check a month failed, which
    fails the step as Dagster does, naming the months. Dagster records one data version per
    run on every month of it (no materialization API takes one per partition): see
    `batch_version`; each month of several shows its own as `month_data_version`."""
    checks = record_checks(context, reports)
    if context.has_partition_key:
        (report,) = reports
        return dg.MaterializeResult(
            metadata=_metadata(report), check_results=checks, data_version=report.data_version
        )
    batch, several = f"{reports[0].month}..{reports[-1].month}", len(reports) > 1
    for report in reports:
        context.add_asset_metadata(_month_metadata(report, several), partition_key=report.month)
    result = dg.MaterializeResult(
        metadata={"batch": batch, **(_version_scope(batch, reports) if several else {})},
        check_results=checks,
        data_version=batch_version(reports),
    )
    outputs = _settled_check_outputs(context, checks)
    return (result, *outputs) if outputs else result


def month_events(
    context: dg.AssetExecutionContext, reports: Sequence[MonthReport]
) -> Iterator[dg.MaterializeResult | dg.Output]:
    """`report_months` for an asset that yields its results."""
    result = report_months(context, reports)
    yield from (result,) if isinstance(result, dg.MaterializeResult) else result


def _settled_check_outputs(
    context: dg.AssetExecutionContext, results: Sequence[dg.AssetCheckResult]
) -> list[dg.Output]:
    """The outputs of the step's checks without a step-level result: each month's evaluation
    is recorded on its partition already, and Dagster requires every check's output. Dagster
    names a check's output after `AssetCheckSpec.get_python_identifier`
    (`defs/test_month_reports.py` fails if it stops doing so)."""
    yielded = {(r.asset_key, r.check_name) for r in results}
    return [
        dg.Output(None, output_name=spec.get_python_identifier())
        for spec in context.assets_def.check_specs
        if (spec.asset_key, spec.name) not in yielded
    ]


def _month_metadata(report: MonthReport, several: bool) -> Metadata:
    """A batched month's metadata; among several, with its own data version."""
    own = report.data_version if several else None
    return {**_metadata(report), **({"month_data_version": own.value} if own else {})}


def batch_version(reports: Sequence[MonthReport]) -> dg.DataVersion | None:
    """The one data version Dagster records on each month of a batch: the months' own when
    they share one (a batch of one month), else one naming the batch and digesting the
    months' own versions (the same months at the same versions give the same one); none
    when the months have none (Dagster derives it from the code and input versions)."""
    versions = [(r.month, r.data_version.value) for r in reports if r.data_version]
    if not versions:
        return None
    if len(versions) == len(reports) and len({v for _, v in versions}) == 1:
        return dg.DataVersion(versions[0][1])
    digest = hashlib.sha256("\n".join(f"{m} {v}" for m, v in versions).encode()).hexdigest()
    return dg.DataVersion(f"batch {reports[0].month}..{reports[-1].month} {digest[:16]}")


def _version_scope(batch: str, reports: Sequence[MonthReport]) -> Metadata:
    """Why the data version of a batched month is the batch's, shown on each month."""
    own = (
        "month_data_version is this month's own"
        if any(r.data_version for r in reports)
        else "Dagster derives it from the code version and the batch's input versions"
    )
    return {
        "data_version_scope": dg.MetadataValue.text(
            f"dagster/data_version is the batch's (batch {batch}): Dagster records one data"
            f" version for a run of several months; {own}; a run of this month alone"
            " records the month's own."
        )
    }


def record_checks(
    context: dg.AssetExecutionContext, reports: Sequence[MonthReport], *, failing: bool = False
) -> list[dg.AssetCheckResult]:
    """The check results for the step to yield: its partition's own, or, for a range of months,
    after each month's evaluation is recorded on its partition, one per blocking check a
    month failed (Dagster fails a step only on the step's own results, and puts a ranged
    step's results on no partition, so none is yielded where no month failed), none when the
    step fails by itself anyway (`failing`)."""
    if context.has_partition_key:
        return list(reports[0].checks)
    blocking = {spec.key for spec in context.assets_def.check_specs if spec.blocking}
    for report in reports:
        for result in report.checks:
            context.log_event(_evaluation(result, report.month, blocking))
    return [
        result
        for result in _batch_results(reports)
        if not failing
        and not result.passed
        and result.severity == dg.AssetCheckSeverity.ERROR
        and dg.AssetCheckKey(result.asset_key, result.check_name) in blocking
    ]


def _metadata(report: MonthReport) -> Metadata:
    return without_empty_entries({**report.metadata, "seconds": report.seconds})


def _evaluation(
    result: dg.AssetCheckResult, month: str, blocking: set[dg.AssetCheckKey]
) -> dg.AssetCheckEvaluation:
    assert result.asset_key is not None and result.check_name is not None
    return dg.AssetCheckEvaluation(
        asset_key=result.asset_key,
        check_name=result.check_name,
        passed=result.passed,
        metadata=result.metadata,
        severity=result.severity,
        description=result.description,
        partition=month,
        blocking=dg.AssetCheckKey(result.asset_key, result.check_name) in blocking,
    )


def _batch_results(reports: Sequence[MonthReport]) -> list[dg.AssetCheckResult]:
    """One result per check for the batch: passed when every month passed, naming the
    months that failed."""
    by_check: dict[tuple[dg.AssetKey | None, str | None], list[tuple[str, dg.AssetCheckResult]]]
    by_check = {}
    for report in reports:
        for result in report.checks:
            key = (result.asset_key, result.check_name)
            by_check.setdefault(key, []).append((report.month, result))
    return [
        dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=name,
            passed=all(result.passed for _, result in outcomes),
            severity=outcomes[0][1].severity,
            metadata={
                "months": len(outcomes),
                "failed_months": ", ".join(m for m, result in outcomes if not result.passed)
                or "none",
            },
            description="The batch's months; each month's evaluation is on its partition.",
        )
        for (asset_key, name), outcomes in by_check.items()
    ]
