"""The newest published month is found with few requests, from scratch or from the last one;
the new-month sensor's plan of a tick, without Dagster."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from taxi_platform.lib.backlog import (
    MAX_BACKOFF_SECONDS,
    Archive,
    DatasetMonths,
    Plan,
    Requested,
    SensorCursor,
    SensorPolicy,
    SourceUnreachable,
    backing_off,
    backoff_seconds,
    months_covered,
    newest_published,
    plan_tick,
    run_key,
)
from taxi_platform.lib.source import NotPublishedError, RemoteFile

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


# The new-month sensor's plan, against a fake source: months published up to `newest`.

MONTHS = [f"2019-{m:02d}" for m in range(1, 7)]
POLICY = SensorPolicy(interval_seconds=30, retry_seconds=600, max_requests=24, recheck_months=3)
NOW = 1_700_000_000.0


def _remote(month: str, last_modified: str | None = None, etag: str = "a") -> RemoteFile:
    return RemoteFile(f"http://x/{month}", etag, 10, last_modified, "f" * 64)


def _archive(
    newest: str | None,
    *,
    files: dict[str, RemoteFile] | None = None,
    records: dict[str, RemoteFile] | None = None,
    unreachable: set[str] = frozenset(),
    asked: list[str] | None = None,
    only: set[str] | None = None,
) -> Archive:
    def probe(month: str) -> RemoteFile:
        if asked is not None:
            asked.append(month)
        if month in unreachable:
            raise SourceUnreachable(month, ConnectionRefusedError("connection refused"))
        if newest is None or month > newest or (only is not None and month not in only):
            raise NotPublishedError(month)
        return (files or {}).get(month, _remote(month))

    return Archive(probe, lambda month: (records or {}).get(month))


def _months(landed: set[str] = frozenset(), busy: set[str] = frozenset()) -> DatasetMonths:
    return DatasetMonths("yellow", MONTHS, frozenset(landed), frozenset(busy))


def _plan(cursor: SensorCursor, months: DatasetMonths, archive: Archive, **policy: int) -> Plan:
    return plan_tick(cursor, months, archive, replace(POLICY, **policy), clock=lambda: NOW)


def _keys(plan: Plan) -> list[tuple[str, str]]:
    return [(r.month, r.run_key) for r in plan.requests]


def test_published_months_are_requested_once_oldest_first() -> None:
    first = _plan(SensorCursor(), _months(), _archive("2019-03"))
    again = _plan(first.cursor, _months(), _archive("2019-03"))

    assert _keys(first) == [(m, f"yellow:{m}:1") for m in MONTHS[:3]]
    assert first.cursor.newest == "2019-03"
    assert first.cursor.requested["2019-02"] == Requested(NOW, 1)
    assert again.requests == () and again.skip == "yellow 2019-04 is not published yet"


def test_up_to_max_requests_and_never_a_landed_or_running_month() -> None:
    plan = _plan(
        SensorCursor(), _months({"2019-01"}, {"2019-02"}), _archive("2019-06"), max_requests=2
    )

    assert [m for m, _ in _keys(plan)] == ["2019-03", "2019-04"]


def test_a_failed_month_waits_unless_its_file_changes() -> None:
    cursor = SensorCursor("2019-02", {"2019-01": Requested(NOW - 60, 1)})
    newer = {"2019-01": _remote("2019-01", "Tue, 14 Nov 2023 22:13:30 GMT")}  # after NOW - 60
    older = {"2019-01": _remote("2019-01", "Tue, 14 Nov 2023 22:00:00 GMT")}

    waiting = _plan(cursor, _months(), _archive("2019-02", files=older))
    changed = _plan(cursor, _months(), _archive("2019-02", files=newer))
    retried = _plan(cursor, _months(), _archive("2019-02", files=older), retry_seconds=0)

    assert [m for m, _ in _keys(waiting)] == ["2019-02"]
    assert _keys(changed)[0] == ("2019-01", "yellow:2019-01:2")
    assert _keys(retried)[0] == ("2019-01", "yellow:2019-01:2")


def test_landed_months_leave_the_cursor_and_a_reissued_one_is_requested() -> None:
    cursor = SensorCursor("2019-02", {"2019-01": Requested(NOW, 1), "2019-02": Requested(NOW, 1)})
    records = {"2019-01": _remote("2019-01"), "2019-02": _remote("2019-02", etag="old")}

    plan = _plan(cursor, _months({"2019-01", "2019-02"}), _archive("2019-02", records=records))

    assert _keys(plan) == [("2019-02", "yellow:2019-02:1")]  # re-issued: new etag
    assert set(plan.cursor.requested) == {"2019-02"}


def test_no_answer_backs_off_doubling_and_an_answer_ends_it() -> None:
    months, down = _months(), _archive("2019-06", unreachable={"2019-01"})

    first = _plan(SensorCursor(), months, down)
    second = _plan(first.cursor, months, down)
    recovered = _plan(second.cursor, months, _archive("2019-06"))

    assert first.requests == () and first.cursor.retry_after == NOW + 30
    assert first.skip == (
        "source unreachable while probing yellow 2019-01 (connection refused); backing off 30s"
    )
    assert "backing off 60s" in second.skip and second.cursor.failures == 2
    assert len(recovered.requests) == 6
    assert (recovered.cursor.failures, recovered.cursor.retry_after) == (0, 0.0)
    assert backoff_seconds(20, 30) == MAX_BACKOFF_SECONDS


def test_the_newest_month_found_before_the_source_went_quiet_is_kept() -> None:
    quiet_on_recheck = _archive("2019-04", unreachable={"2019-01"})

    plan = _plan(SensorCursor("2019-01"), _months({"2019-01"}), quiet_on_recheck)

    assert plan.requests == () and "probing yellow 2019-01" in plan.skip
    assert plan.cursor.newest == "2019-04"


def test_while_backing_off_nothing_is_asked() -> None:
    cursor = SensorCursor(failures=1, retry_after=NOW + 30)

    assert backing_off(cursor, "yellow", NOW) == (
        "yellow: the source was unreachable; next probe after 22:13:50 UTC"
    )
    assert backing_off(cursor, "yellow", NOW + 30) is None


def test_every_month_handled_is_said_so() -> None:
    plan = _plan(SensorCursor(), _months(set(MONTHS)), _archive("2019-06"))

    assert plan.skip == "every yellow month is landed, running or waiting to retry"


def test_the_cursor_survives_json_and_a_broken_one_starts_afresh() -> None:
    cursor = SensorCursor("2019-02", {"2019-01": Requested(NOW, 2)}, 1, NOW + 30)

    assert SensorCursor.load(cursor.dump()) == cursor
    assert json.loads(cursor.dump())["requested"] == {"2019-01": {"at": NOW, "attempt": 2}}
    assert SensorCursor.load("{not json") == SensorCursor()
    assert SensorCursor.load('{"requested": {"2019-01": {}}}') == SensorCursor()
    assert SensorCursor.load(None) == SensorCursor()


def test_runs_cover_their_partition_or_their_range() -> None:
    tags = [
        {"dagster/partition": "2019-01"},
        {
            "dagster/asset_partition_range_start": "2019-03",
            "dagster/asset_partition_range_end": "2019-04",
        },
        {},
    ]

    assert months_covered(tags, MONTHS) == {"2019-01", "2019-03", "2019-04"}


# Issue 24, item 4: months the source lacks never hide the months it has.

ARCHIVE = [f"{y}-{m:02d}" for y in range(2009, 2020) for m in range(1, 13)][:126]  # ..2019-06


def test_unpublished_older_months_never_block_later_ones() -> None:
    months = DatasetMonths("yellow", ARCHIVE, frozenset(), frozenset())
    source = _archive("2019-06", only={"2019-01", "2019-02", "2019-03", "2019-04"})

    first = _plan(SensorCursor(), months, source)
    again = _plan(first.cursor, months, source)

    assert [m for m, _ in _keys(first)] == ["2019-01", "2019-02", "2019-03", "2019-04"]
    assert first.note == "missing at the source: 2009-01..2018-12"
    assert again.skip == (
        "yellow 2019-05 is not published yet; missing at the source: 2009-01..2018-12"
    )


def test_a_published_old_month_and_a_long_gap_before_the_newest_ones() -> None:
    months = DatasetMonths("yellow", ARCHIVE[:124], frozenset(), frozenset())  # ..2019-04
    source = _archive("2019-06", only={"2009-01", "2019-03", "2019-04"})

    plan = _plan(SensorCursor(), months, source)

    assert [m for m, _ in _keys(plan)] == ["2009-01", "2019-03", "2019-04"]
    assert plan.cursor.gaps == (("2009-02", "2019-02"),)


def test_a_gap_in_the_middle_of_a_range_blocks_nothing() -> None:
    source = _archive("2019-06", only=set(MONTHS) - {"2019-04"})

    plan = _plan(SensorCursor(), _months(), source)

    assert [m for m, _ in _keys(plan)] == ["2019-01", "2019-02", "2019-03", "2019-05", "2019-06"]
    assert plan.note == "missing at the source: 2019-04"


def test_a_requested_month_the_source_lacks_is_missing_not_retried() -> None:
    cursor = SensorCursor("2019-06", {"2019-03": Requested(NOW - 900, 1)})
    landed = set(MONTHS) - {"2019-03"}
    lacking = _archive("2019-06", only=set(MONTHS) - {"2019-03"})

    missing = _plan(cursor, _months(landed), lacking)
    published = _plan(missing.cursor, _months(landed), _archive("2019-06"))

    assert missing.requests == ()
    assert missing.skip == (
        "every yellow month is landed, running or waiting to retry; missing at the source: 2019-03"
    )
    assert _keys(published) == [("2019-03", "yellow:2019-03:2")]


def test_a_filled_gap_is_requested() -> None:
    cursor = SensorCursor("2019-06", gaps=(("2019-02", "2019-04"),))
    landed = {"2019-01", "2019-05", "2019-06"}

    plan = _plan(cursor, _months(landed), _archive("2019-06", only=set(MONTHS) - {"2019-02"}))

    assert [m for m, _ in _keys(plan)] == ["2019-03", "2019-04"]
    assert plan.cursor.gaps == (("2019-02", "2019-02"),)


# Issue 24, item 5: a back-off ends on the tick that reaches its retry time.


def test_a_retry_time_within_the_second_the_message_shows_is_reached() -> None:
    cursor = SensorCursor(failures=1, retry_after=NOW + 30.6)

    assert backing_off(cursor, "yellow", NOW + 29.9) == (
        "yellow: the source was unreachable; next probe after 22:13:50 UTC"
    )
    assert backing_off(cursor, "yellow", NOW + 30.0) is None
    assert backing_off(cursor, "yellow", NOW + 30.2) is None


def test_the_back_off_counts_from_the_tick_not_from_the_end_of_a_slow_probe() -> None:
    times = iter([NOW, NOW + 5, NOW + 10])  # a probe that timed out after 5 s
    down = _archive("2019-06", unreachable={"2019-01"})

    plan = plan_tick(SensorCursor(), _months(), down, POLICY, clock=lambda: next(times))

    assert plan.cursor.retry_after == NOW + 30


# Issue 24, item 6: the first request of a month has one run key, whichever trigger makes it.


def test_a_month_the_schedule_requested_is_retried_not_requested_anew() -> None:
    months = replace(_months(), requested_elsewhere={"2019-02": NOW - 60})

    waiting = _plan(SensorCursor(), months, _archive("2019-03"))
    retried = _plan(SensorCursor(), months, _archive("2019-03"), retry_seconds=0)

    assert [m for m, _ in _keys(waiting)] == ["2019-01", "2019-03"]
    assert waiting.cursor.requested["2019-02"] == Requested(NOW - 60, 1)
    assert ("2019-02", "yellow:2019-02:2") in _keys(retried)
    assert run_key("yellow", "2019-02", 1) == "yellow:2019-02:1"
