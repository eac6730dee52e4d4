"""A month key is exactly YYYY-MM: four digits, a dash, a two-digit month."""

from datetime import date

import pytest

from taxi_platform.lib.months import month_start


def test_a_month_key_starts_its_month() -> None:
    assert month_start("2025-01") == date(2025, 1, 1)
    assert month_start("2019-12") == date(2019, 12, 1)


@pytest.mark.parametrize(
    "key", ["2025-1", " 2025-01", "+2025-01", "2025-01 ", "2025-13", "0000-01"]
)
def test_anything_else_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="not a YYYY-MM month"):
        month_start(key)
