"""YYYY-MM month keys as dates (no Dagster import: the data path stays light)."""

from __future__ import annotations

import re
from datetime import date

_MONTH = re.compile(r"[0-9]{4}-(?:0[1-9]|1[0-2])")


def month_start(month: str) -> date:
    """First day of a YYYY-MM partition key (four-digit year, two-digit month, nothing else
    around them); rejects anything else."""
    if not isinstance(month, str) or not _MONTH.fullmatch(month) or month < "0001":
        raise ValueError(f"not a YYYY-MM month: {month!r}")
    return date(int(month[:4]), int(month[5:]), 1)


def next_month(month: str) -> str:
    """The YYYY-MM key after `month`."""
    first = month_start(month)
    return f"{first.year + first.month // 12:04d}-{first.month % 12 + 1:02d}"


def months_before(when: date, months: int) -> str:
    """The YYYY-MM month `months` before the month of `when`."""
    index = when.year * 12 + when.month - 1 - months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
