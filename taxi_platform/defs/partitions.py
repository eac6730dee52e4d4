"""Monthly partitions: each dataset's run from its first month at the source to the newest
month the source is expected to hold."""

from __future__ import annotations

from datetime import datetime

import dagster as dg

from taxi_platform.catalog import COURSE_MIRROR, Source, TaxiDataset
from taxi_platform.lib.months import months_before, next_month
from taxi_platform.settings import Settings

MONTH_FMT = "%Y-%m"


def monthly_partitions(
    last_month: str | None = None, *, first_month: str = COURSE_MIRROR.first_months["yellow"]
) -> dg.MonthlyPartitionsDefinition:
    """Months from `first_month`; up to and including `last_month` (YYYY-MM) when given, else
    up to the last complete month."""
    return dg.MonthlyPartitionsDefinition(
        start_date=first_month,
        end_date=next_month(last_month) if last_month else None,
        fmt=MONTH_FMT,
    )


def newest_month(source: Source, settings: Settings, now: datetime) -> str:
    """The newest month to partition: `TAXI_LAST_MONTH`, else the month the publication lag
    says is out by `now`; never past the source's own last month."""
    month = settings.last_month or months_before(now, settings.publication_lag_months)
    if settings.last_month:
        first = max(source.first_months.values())
        if month < first:
            late = [ds for ds, m in source.first_months.items() if m > month]
            raise ValueError(
                f"TAXI_LAST_MONTH={month} is before the first month of {', '.join(late)} on"
                f" the {source.name} source ({first}): those datasets would have no partition"
            )
    return min(month, source.last_month) if source.last_month else month


def dataset_partitions(
    ds: TaxiDataset, source: Source, last_month: str
) -> dg.MonthlyPartitionsDefinition:
    """The months `source` publishes for `ds`, up to `last_month`."""
    return monthly_partitions(last_month, first_month=source.first_months[ds.name])
