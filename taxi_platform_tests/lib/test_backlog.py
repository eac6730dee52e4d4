"""The newest published month is found with few requests, from scratch or from the last one."""

from __future__ import annotations

import pytest

from taxi_platform.lib.backlog import newest_published

KEYS = [f"{y}-{m:02d}" for y in range(2009, 2027) for m in range(1, 13)]


def _source(newest: str | None) -> tuple[list[str], object]:
    asked: list[str] = []

    def published(month: str) -> bool:
        asked.append(month)
        return newest is not None and month <= newest

    return asked, published


@pytest.mark.parametrize("newest", [None, "2009-01", "2021-07", "2026-08", "2026-12"])
def test_from_scratch_a_binary_search(newest: str | None) -> None:
    asked, published = _source(newest)

    assert newest_published(KEYS, published, None) == newest
    assert len(asked) <= 10


def test_from_the_last_known_month_one_request_when_nothing_is_new() -> None:
    asked, published = _source("2026-08")

    assert newest_published(KEYS, published, "2026-08") == "2026-08"
    assert asked == ["2026-09"]


def test_a_year_of_new_months_is_found_at_once() -> None:
    asked, published = _source("2026-08")

    assert newest_published(KEYS, published, "2025-08") == "2026-08"
    assert len(asked) <= 10
