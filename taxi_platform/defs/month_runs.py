"""A run lands one month: the backfill policy that makes it so, and the wrapper every trip
asset runs its month's work in, so that any failure is one line naming dataset and month."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import dagster as dg

from taxi_platform.catalog import TaxiDataset
from taxi_platform.defs.metadata import legible
from taxi_platform.defs.partitions import single_month
from taxi_platform.lib.lake import SourceFileError
from taxi_platform.lib.source import DownloadError, NotPublishedError

ONE_MONTH_PER_RUN = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)
SINK_RETRY = dg.RetryPolicy(
    max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
# Bad input: failing again cannot help.
SOURCE_ERRORS = (NotPublishedError, DownloadError, SourceFileError, FileNotFoundError)
T = TypeVar("T")


@dataclass(frozen=True)
class MonthRun(Generic[T]):
    """What the work for the run's month returned, and how long it took."""

    month: str
    value: T
    seconds: float


def run_month(
    context: dg.AssetExecutionContext, ds: TaxiDataset, work: Callable[[str], T]
) -> MonthRun[T]:
    """Run `work` for the run's month. Bad input fails at once naming dataset, month, file and
    reason; any other error (a sink down) names them too and may be retried."""
    month = single_month(context, ds.name)
    started = time.monotonic()
    try:
        value = work(month)
    except SOURCE_ERRORS as err:
        raise dg.Failure(description=f"{ds.name} {month}: {err}", allow_retries=False) from err
    except dg.Failure:
        raise
    except Exception as err:
        reason = (str(err).strip().splitlines() or [""])[0][:200]
        retries_left = context.retry_number < SINK_RETRY.max_retries
        raise dg.Failure(
            description=f"{ds.name} {month}: {context.op_def.name} failed"
            f" (attempt {context.retry_number + 1}): {type(err).__name__}: {reason}",
            allow_retries=retries_left,  # the last attempt's failure is what the run shows
        ) from err
    return MonthRun(month, value, round(time.monotonic() - started, 3))


def month_metadata(run: MonthRun[dict[str, Any]]) -> dict[str, Any]:
    return legible({**run.value, "seconds": run.seconds})
