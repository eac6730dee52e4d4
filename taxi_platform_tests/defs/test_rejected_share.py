"""The most of a month's rows the lake may reject: `TAXI_MAX_REJECTED_SHARE`, or the lake
asset's run config."""

from __future__ import annotations

import pytest

from taxi_platform.defs.trips import LakeQualityConfig
from taxi_platform.lib.lake import CleanReport
from taxi_platform.lib.quality import QualityLimits, too_many_rejected
from taxi_platform.settings import load_settings


def test_the_setting_defaults_to_one_percent_and_takes_a_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TAXI_MAX_REJECTED_SHARE", raising=False)
    assert load_settings().max_rejected_share == 0.01

    monkeypatch.setenv("TAXI_MAX_REJECTED_SHARE", "0.2")
    assert load_settings().max_rejected_share == 0.2


@pytest.mark.parametrize("value", ["a lot", "1.5", "-0.1"])
def test_a_value_that_is_not_a_share_fails_the_load_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TAXI_MAX_REJECTED_SHARE", value)

    with pytest.raises(ValueError, match=rf"TAXI_MAX_REJECTED_SHARE .* not '{value}'"):
        load_settings()


def test_the_run_config_overrides_the_setting() -> None:
    assert LakeQualityConfig().limits(0.01) == QualityLimits(0.05, 0.01)
    assert LakeQualityConfig(max_rejected_share=0.5).limits(0.01) == QualityLimits(0.05, 0.5)


def test_a_month_with_every_row_rejected_is_too_many_whatever_the_share_allowed() -> None:
    some = CleanReport(rows_read=1_000, rows_written=990, rejected=10)
    every = CleanReport(rows_read=1_000, rows_written=0, rejected=1_000)

    assert not too_many_rejected(some, 0.01)
    assert too_many_rejected(CleanReport(rows_read=1_000, rows_written=989, rejected=11), 0.01)
    assert too_many_rejected(every, 1.0)
