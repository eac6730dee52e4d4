"""A dataset's freshness from what the sensor's probes found published."""

from __future__ import annotations

from pathlib import Path

from taxi_platform.lib.freshness import (
    PublishedMonths,
    judge,
    read_published,
    spans,
    write_published,
)

KEYS = [f"2024-{m:02d}" for m in range(1, 13)]
HOUR = 3600.0


def _seen(newest: str, at: float, gaps=(), landed=()) -> PublishedMonths:
    record = PublishedMonths(newest, tuple(gaps))
    unlanded = [m for m in record.published(KEYS) if m not in landed]
    return PublishedMonths().after_probe(newest, gaps, unlanded, at)


def test_a_month_not_landed_within_the_allowance_is_overdue() -> None:
    record = _seen("2024-03", at=0.0, landed=("2024-01",))

    early = judge("yellow", record, KEYS, frozenset({"2024-01"}), 24, now=23 * HOUR)
    late = judge("yellow", record, KEYS, frozenset({"2024-01"}), 24, now=25 * HOUR)

    assert early.fresh and early.behind == ("2024-02", "2024-03") and not early.overdue
    assert not late.fresh and late.overdue == ("2024-02", "2024-03")
    assert late.described == (
        "yellow is behind the source by 2 month(s): 2024-02..2024-03;"
        " not landed 24 h after publication: 2024-02..2024-03"
    )


def test_a_month_keeps_the_time_it_was_first_seen_until_it_lands() -> None:
    first = _seen("2024-02", at=0.0)
    later = first.after_probe("2024-03", (), ["2024-02", "2024-03"], 30 * HOUR)
    landed = later.after_probe("2024-03", (), ["2024-03"], 31 * HOUR)

    verdict = judge("green", later, KEYS, frozenset({"2024-01"}), 24, now=31 * HOUR)

    assert later.first_seen == {"2024-02": 0.0, "2024-03": 30 * HOUR}
    assert verdict.overdue == ("2024-02",)
    assert landed.first_seen == {"2024-03": 30 * HOUR}


def test_months_missing_at_the_source_are_not_behind() -> None:
    gaps = (("2024-01", "2024-04"),)
    record = _seen("2024-06", at=0.0, gaps=gaps, landed=("2024-05",))

    verdict = judge("fhv", record, KEYS, frozenset({"2024-05"}), 24, now=100 * HOUR)

    assert verdict.behind == ("2024-06",)


def test_every_published_month_landed_is_fresh() -> None:
    record = _seen("2024-02", at=0.0, landed=("2024-01", "2024-02"))

    verdict = judge("yellow", record, KEYS, frozenset(KEYS[:2]), 24, now=1000 * HOUR)

    assert verdict.fresh and not verdict.behind
    assert verdict.described == (
        "yellow: every month the source has published is landed (newest 2024-02)"
    )


def test_the_record_survives_a_round_trip_and_a_broken_file_reads_as_none(
    tmp_path: Path,
) -> None:
    path = tmp_path / "source" / "yellow_published.json"
    record = _seen("2024-06", at=5.0, gaps=(("2024-01", "2024-02"),))

    write_published(path, record)
    path_broken = tmp_path / "broken.json"
    path_broken.write_text("{not json")

    assert read_published(path) == record
    assert read_published(path_broken) is None
    assert read_published(tmp_path / "absent.json") is None


def test_spans_join_consecutive_months() -> None:
    assert spans(["2024-05", "2024-01", "2024-02", "2024-03"], KEYS) == "2024-01..2024-03, 2024-05"
