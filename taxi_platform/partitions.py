"""The one monthly partitioning shared by every monthly asset."""

from __future__ import annotations

from datetime import date

import dagster as dg

FIRST_MONTH = "2019-01"
MONTH_FMT = "%Y-%m"


def month_start(month: str) -> date:
    """First day of a YYYY-MM partition key; rejects anything else."""
    try:
        year, mon = month.split("-")
        return date(int(year), int(mon), 1)
    except ValueError as err:
        raise ValueError(f"not a YYYY-MM month: {month!r}") from err


def next_month(month: str) -> str:
    """The YYYY-MM key after `month`."""
    first = month_start(month)
    return f"{first.year + first.month // 12:04d}-{first.month % 12 + 1:02d}"


def monthly_partitions(last_month: str | None = None) -> dg.MonthlyPartitionsDefinition:
    """Months from 2019-01; up to and including `last_month` (YYYY-MM) when given."""
    return dg.MonthlyPartitionsDefinition(
        start_date=FIRST_MONTH,
        end_date=next_month(last_month) if last_month else None,
        fmt=MONTH_FMT,
    )
