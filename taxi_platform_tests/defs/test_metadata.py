"""Metadata of a run over several months: true totals, and each month's own values."""

from __future__ import annotations

from taxi_platform.defs.metadata import range_metadata


def test_totals_sum_numbers_only_without_float_noise() -> None:
    metadata = range_metadata(
        {
            "2021-01": {"rows": 1, "revenue_usd": 0.1, "downloaded": True, "era": "yellow-2011"},
            "2021-02": {"rows": 2, "revenue_usd": 0.2, "downloaded": False, "era": "yellow-2011"},
        }
    )

    assert metadata["rows_total"] == 3
    assert metadata["revenue_usd_total"] == 0.3  # not 0.30000000000000004
    assert "downloaded_total" not in metadata  # flags are not summed
    table = metadata["per_month"].md_str
    assert "| 2021-02 | 2 | 0.2 | False | yellow-2011 |" in table


def test_one_month_is_shown_as_it_is() -> None:
    month = {"rows": 1, "era": "green-2025"}

    assert range_metadata({"2025-01": month}) == month
