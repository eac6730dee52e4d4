"""The kept versions of a month, on files alone: keep, prune, restore, diff; landing and
publishing a month as its versions."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.lib.files import atomic_write_text
from taxi_platform.lib.lake import CleanReport
from taxi_platform.lib.quality import LakeQuality
from taxi_platform.lib.source import RemoteFile, read_record
from taxi_platform.lib.versions import (
    CleanedMonth,
    Fetch,
    MonthVersions,
    TripMonth,
    diff,
    file_sha256,
    land_raw,
    landed_version,
    publish,
    restore_version,
    source_record,
)

MONTH = "2021-01"


def _land(raw: Path, body: bytes, fetched_at: str) -> str:
    raw.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(raw, body.decode())  # landed files are replaced, never written in place
    sha = file_sha256(raw)
    version = landed_version(RemoteFile("http://x/f", None, len(body), None, sha), raw, fetched_at)
    store = MonthVersions(raw.parents[2], YELLOW, MONTH)
    store.keep_raw(store.read(), raw, version, keep=2)
    return version.version


def test_versions_are_kept_pruned_to_the_newest_and_restored(tmp_path: Path) -> None:
    raw = tmp_path / "raw" / "yellow" / "f.csv.gz"
    first = _land(raw, b"one", "2026-01-01T00:00:00")
    second = _land(raw, b"two", "2026-02-01T00:00:00")
    assert _land(raw, b"two", "2026-02-02T00:00:00") == second  # same bytes: same version
    store = MonthVersions(tmp_path, YELLOW, MONTH)
    assert [v.version for v in store.read().versions] == [first, second]

    third = _land(raw, b"three", "2026-03-01T00:00:00")  # keep=2: the oldest goes

    assert [v.version for v in store.read().versions] == [second, third]
    assert not (store.root / first).exists()
    store.restore_raw(store.read(), second, raw)
    assert raw.read_bytes() == b"two" and store.read().current == second
    with pytest.raises(LookupError, match="not kept"):
        store.restore_raw(store.read(), first, raw)


def test_a_diff_counts_rows_added_and_removed_columns_and_money(tmp_path: Path) -> None:
    before, after = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"fare_amount": [1.0, 2.0, 2.0], "x": [1, 2, 2]}), before)
    pq.write_table(pa.table({"fare_amount": [2.0, 5.0], "y": ["a", "b"]}), after)

    change = diff(before, after, YELLOW)

    assert (change.rows_before, change.rows_after) == (3, 2)
    assert (change.rows_added, change.rows_removed) == (1, 2)  # 5.0 added; 1.0 and a 2.0 gone
    assert (change.columns_added, change.columns_dropped) == (["y"], ["x"])
    assert (change.money_before, change.money_after) == ({"fare_amount": 5.0}, {"fare_amount": 7.0})


class _FolderSource:
    """A source serving the bytes set with `publish`: its ETag is their hash."""

    def __init__(self) -> None:
        self.body = b""
        self.downloads = 0

    def probe(self, url: str, log: logging.Logger | None = None) -> RemoteFile:
        return RemoteFile(url, hashlib.md5(self.body).hexdigest(), len(self.body))

    def download(
        self, url: str, dst: Path, log: logging.Logger, *, verify: object = None
    ) -> RemoteFile:
        self.downloads += 1
        dst.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(dst, self.body.decode())
        remote = self.probe(url)
        return replace(remote, sha256=hashlib.sha256(self.body).hexdigest())


def _audited(month: TripMonth, fares: list[float]) -> CleanedMonth:
    month.audit.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"fare_amount": fares}), month.audit)
    report = CleanReport(rows_written=len(fares), era="current", fingerprint="f")
    return CleanedMonth(month, report, LakeQuality(len(fares), 0, 0, 0), {})


def test_a_month_is_landed_once_per_change_and_published_with_what_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    read = MonthVersions.read
    monkeypatch.setattr(MonthVersions, "read", lambda self: reads.append(self.month) or read(self))
    month, source = TripMonth(YELLOW, COURSE_MIRROR, MONTH, tmp_path), _FolderSource()
    fetch, log = Fetch(source, "http://x/f"), logging.getLogger("test")
    source.body = b"one"

    first = land_raw(month, fetch, 3, log)
    published = publish(_audited(month, [1.0, 2.0]), "2")
    again = land_raw(month, fetch, 3, log)
    source.body = b"two"  # the source re-issues the month
    second = land_raw(month, fetch, 3, log)
    republished = publish(_audited(month, [2.0, 5.0]), "2")

    assert reads == [MONTH] * 5  # the manifest is read once per landing or publishing
    assert (first.downloaded, again.downloaded, again.unchanged) == (True, False, True)
    assert source.downloads == 2 and again.version.version == first.version.version
    assert published.metadata() == {"version": first.version.version}
    assert second.previous_version == first.version.version
    assert republished.metadata() == {
        "version": second.version.version,
        "previous_version": first.version.version,
        "rows_added": 1,
        "rows_removed": 1,
        "columns_added": "",
        "columns_dropped": "",
        "money_before": {"fare_amount": 3.0},
        "money_after": {"fare_amount": 7.0},
    }
    kept = month.store.read().get(second.version.version)
    assert (kept.lake_rows, kept.lake_code_version, kept.money) == (2, "2", {"fare_amount": 7.0})
    assert month.clean.exists() and not month.audit.exists()


def test_restoring_a_kept_version_puts_back_its_bytes_and_record(tmp_path: Path) -> None:
    month, source = TripMonth(YELLOW, COURSE_MIRROR, MONTH, tmp_path), _FolderSource()
    fetch, log = Fetch(source, "http://x/f"), logging.getLogger("test")
    source.body = b"one"
    first = land_raw(month, fetch, 3, log).version
    source.body = b"two"
    second = land_raw(month, fetch, 3, log).version

    restored = restore_version(month, first.version)

    assert month.raw.read_bytes() == b"one" and month.store.read().current == first.version
    assert restored.metadata() == {"restored": True, "previous_version": second.version}
    assert read_record(month.raw) == source_record(first)
