"""The sink rule, for any engine: held months are counted, the others replaced, then counted."""

import inspect
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from taxi_platform.lib.warehouse import bigquery, postgres
from taxi_platform.lib.warehouse.sink import LakeMonth, SyncedMonth, TripSink, sync_months


class RecordingTable:
    """A trip table in memory that records which months were replaced."""

    def __init__(self, held: dict[str, str], rows: dict[str, int]) -> None:
        self.held, self.rows, self.replaced = held, rows, []

    def sink(self) -> TripSink:
        return TripSink(self.held_versions, self.replace_months, self.month_row_counts)

    def held_versions(self, months: Sequence[str]) -> dict[str, str | None]:
        return {m: self.held.get(m) for m in months}

    def replace_months(self, months: Sequence[LakeMonth]) -> dict[str, int]:
        self.replaced.append([m.month for m in months])
        for m in months:
            self.rows[m.month] = pq.ParquetFile(m.path).metadata.num_rows
            if m.version is not None:
                self.held[m.month] = m.version
        return self.month_row_counts([m.month for m in months])

    def month_row_counts(self, months: Sequence[str]) -> dict[str, int]:
        return {m: self.rows.get(m, 0) for m in months}


def _lake_month(tmp_path: Path, month: str, rows: int, version: str | None) -> LakeMonth:
    path = tmp_path / f"{month}.parquet"
    pq.write_table(pa.table({"x": list(range(rows))}), path)
    return LakeMonth(month, path, f"gs://lake/{month}.parquet", version)


def test_only_months_not_holding_their_version_are_replaced_and_all_are_counted(
    tmp_path: Path,
) -> None:
    table = RecordingTable(held={"2024-01": "a", "2024-02": "old"}, rows={"2024-01": 3})
    months = [
        _lake_month(tmp_path, "2024-01", 3, "a"),  # held: counted, not loaded
        _lake_month(tmp_path, "2024-02", 4, "b"),  # a newer version: replaced
        _lake_month(tmp_path, "2024-03", 5, None),  # unversioned: always replaced
    ]

    synced = sync_months(table.sink(), months)

    assert table.replaced == [["2024-02", "2024-03"]]
    assert synced == {
        "2024-01": SyncedMonth(3, 3, "a", loaded=False),
        "2024-02": SyncedMonth(4, 4, "b", loaded=True),
        "2024-03": SyncedMonth(5, 5, None, loaded=True),
    }


def test_a_second_sync_loads_nothing(tmp_path: Path) -> None:
    table = RecordingTable(held={}, rows={})
    months = [_lake_month(tmp_path, "2024-01", 2, "a")]

    first, second = sync_months(table.sink(), months), sync_months(table.sink(), months)

    assert table.replaced == [["2024-01"]]
    assert first["2024-01"].loaded and not second["2024-01"].loaded
    assert second["2024-01"].rows == 2


def test_rows_are_what_the_table_holds_not_what_the_lake_has(tmp_path: Path) -> None:
    table = RecordingTable(held={"2024-01": "a"}, rows={"2024-01": 1})  # a month lost rows

    synced = sync_months(table.sink(), [_lake_month(tmp_path, "2024-01", 3, "a")])

    assert (synced["2024-01"].rows, synced["2024-01"].lake_rows) == (1, 3)


def test_both_engines_offer_the_same_plural_contract() -> None:
    def shape(function: object) -> list[str]:
        return list(inspect.signature(function).parameters)[2:]  # after connection, namespace

    for name in ("held_versions", "replace_months", "month_row_counts"):
        assert shape(getattr(bigquery, name)) == shape(getattr(postgres, name)), name
    for engine in (bigquery, postgres):
        for singular in ("held_version", "replace_month", "month_row_count"):
            assert not hasattr(engine, singular), (engine.__name__, singular)
