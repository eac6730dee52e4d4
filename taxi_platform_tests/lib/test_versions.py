"""The kept versions of a month, on files alone: keep, prune, restore, diff."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from taxi_platform.catalog import YELLOW
from taxi_platform.lib.files import atomic_write_text
from taxi_platform.lib.source import RemoteFile
from taxi_platform.lib.versions import MonthVersions, diff, file_sha256, release_of

MONTH = "2021-01"


def _land(raw: Path, body: bytes, fetched_at: str) -> str:
    raw.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(raw, body.decode())  # landed files are replaced, never written in place
    sha = file_sha256(raw)
    release = release_of(RemoteFile("http://x/f", None, len(body), None, sha), raw, fetched_at)
    MonthVersions(raw.parents[2], YELLOW, MONTH).keep_raw(raw, release, keep=2)
    return release.version


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
    store.restore_raw(second, raw)
    assert raw.read_bytes() == b"two" and store.read().current == second
    with pytest.raises(LookupError, match="not kept"):
        store.restore_raw(first, raw)


def test_a_diff_counts_rows_added_and_removed_columns_and_money(tmp_path: Path) -> None:
    before, after = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"fare_amount": [1.0, 2.0, 2.0], "x": [1, 2, 2]}), before)
    pq.write_table(pa.table({"fare_amount": [2.0, 5.0], "y": ["a", "b"]}), after)

    change = diff(before, after, YELLOW)

    assert (change.rows_before, change.rows_after) == (3, 2)
    assert (change.rows_added, change.rows_removed) == (1, 2)  # 5.0 added; 1.0 and a 2.0 gone
    assert (change.columns_added, change.columns_dropped) == (["y"], ["x"])
    assert (change.money_before, change.money_after) == ({"fare_amount": 5.0}, {"fare_amount": 7.0})
