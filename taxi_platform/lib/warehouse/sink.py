"""The sink contract every warehouse engine keeps, and the one rule that applies it.

Each engine module (`bigquery`, `postgres`) is a `TripEngine`: the same three plural
operations on a trip table, given the engine's connection and namespace (dataset or schema):
the lake version each month holds, replacing months (the batch in one transaction, recording
the versions, returning the rows after commit), and each month's rows. `sync_months` applies
the rule for any engine: a month already holding the lake's version is not loaded again, the
others are replaced, and every month is counted in the table after commit.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from taxi_platform.catalog import TaxiDataset, trips_table
from taxi_platform.lib.quality import parquet_rows


@dataclass(frozen=True)
class LakeMonth:
    """A published lake month: its parquet, the same file in the bucket, its lake version."""

    month: str
    path: Path
    uri: str
    version: str | None = None


@dataclass(frozen=True)
class SyncedMonth:
    """What a sink holds of a month after `sync_months`, beside what the lake holds."""

    rows: int
    lake_rows: int
    version: str | None
    loaded: bool


@dataclass(frozen=True)
class TripSink:
    """One trip table of one warehouse, as the sink rule uses it."""

    held_versions: Callable[[Sequence[str]], dict[str, str | None]]
    replace_months: Callable[[Sequence[LakeMonth]], dict[str, int]]
    month_row_counts: Callable[[Sequence[str]], dict[str, int]]


class TripEngine(Protocol):
    """What an engine module offers on its trip tables (`connection`: its client or
    connection; `namespace`: its dataset or schema)."""

    def held_versions(
        self, connection: Any, namespace: str, table: str, months: Sequence[str]
    ) -> dict[str, str | None]: ...

    def replace_months(
        self, connection: Any, namespace: str, ds: TaxiDataset, files: Sequence[LakeMonth]
    ) -> dict[str, int]: ...

    def month_row_counts(
        self, connection: Any, namespace: str, table: str, months: Sequence[str]
    ) -> dict[str, int]: ...


def trip_sink(engine: TripEngine, connection: Any, namespace: str, ds: TaxiDataset) -> TripSink:
    """The dataset's trip table in `namespace` of an engine, for the sink rule."""
    table = trips_table(ds)
    return TripSink(
        held_versions=partial(engine.held_versions, connection, namespace, table),
        replace_months=partial(engine.replace_months, connection, namespace, ds),
        month_row_counts=partial(engine.month_row_counts, connection, namespace, table),
    )


def sync_months(sink: TripSink, months: Sequence[LakeMonth]) -> dict[str, SyncedMonth]:
    """Replace the months whose lake version the table does not hold (an unversioned month
    always), count the others; each month's rows are what the table holds after commit."""
    held = sink.held_versions([m.month for m in months])
    stale = [m for m in months if m.version is None or held[m.month] != m.version]
    rows = sink.replace_months(stale) if stale else {}
    if kept := [m.month for m in months if m not in stale]:
        rows |= sink.month_row_counts(kept)
    return {
        m.month: SyncedMonth(rows[m.month], parquet_rows(m.path), m.version, m in stale)
        for m in months
    }
