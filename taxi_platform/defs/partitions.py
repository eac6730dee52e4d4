"""The one monthly partitioning shared by every monthly asset."""

from __future__ import annotations

import dagster as dg

from taxi_platform.lib.months import next_month

FIRST_MONTH = "2019-01"
MONTH_FMT = "%Y-%m"


def monthly_partitions(last_month: str | None = None) -> dg.MonthlyPartitionsDefinition:
    """Months from 2019-01; up to and including `last_month` (YYYY-MM) when given."""
    return dg.MonthlyPartitionsDefinition(
        start_date=FIRST_MONTH,
        end_date=next_month(last_month) if last_month else None,
        fmt=MONTH_FMT,
    )
