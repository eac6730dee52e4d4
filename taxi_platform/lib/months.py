"""YYYY-MM month keys as dates (no Dagster import: the data path stays light)."""

from __future__ import annotations

from datetime import date


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


def months_before(when: date, months: int) -> str:
    """The YYYY-MM month `months` before the month of `when`."""
    index = when.year * 12 + when.month - 1 - months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
