"""The BigQuery engine on the emulator: concurrent replacements of one month, and tables made
with zoned TIMESTAMP columns converted to wall-clock DATETIME."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.api_core.exceptions import BadRequest
from google.cloud import bigquery

from devstack.tlc_parquet import write_official_month
from taxi_platform import catalog
from taxi_platform.catalog import BIGQUERY_TYPES, YELLOW, Kind, staging_table, trips_table
from taxi_platform.lib.gcs import upload_if_changed
from taxi_platform.lib.lake_parquet import parquet_to_parquet
from taxi_platform.lib.warehouse import bigquery as engine
from taxi_platform.lib.warehouse.sink import LakeMonth
from taxi_platform_tests.lib.warehouse.conftest import LandedMonth

PARALLEL = 4
CALLS = 3 * PARALLEL  # the collision is a race: give it a few chances


@pytest.mark.integration
def test_concurrent_replacements_of_one_month_all_succeed_and_leave_it_once(
    local_resources: dict[str, Any], landed_month: LandedMonth, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset, ds, month = "concurrent_months", landed_month.ds, landed_month.month
    with local_resources["bigquery"].get_client() as client:
        created: list[bigquery.Table] = []  # the emulator does not store `expires`: record it
        create_table = client.create_table

        def recording(table: bigquery.Table, *args: Any, **kwargs: Any) -> bigquery.Table:
            created.append(table)
            return create_table(table, *args, **kwargs)

        monkeypatch.setattr(client, "create_table", recording)

        def replace(_: int) -> int:
            return engine.replace_months(client, dataset, ds, [landed_month.lake_month])[month]

        with ThreadPoolExecutor(PARALLEL) as pool:
            counts = list(pool.map(replace, range(CALLS)))

        rows = pq.ParquetFile(landed_month.lake).metadata.num_rows
        assert counts == [rows] * CALLS
        assert engine.table_row_count(client, dataset, trips_table(ds)) == rows
        assert [t.table_id for t in client.list_tables(dataset)] == [trips_table(ds)]
    stages = [t for t in created if t.table_id.startswith(staging_table(ds, month))]
    assert len({t.table_id for t in stages}) == CALLS
    day = datetime.now(UTC) + timedelta(days=1)
    assert all(day - timedelta(minutes=5) < t.expires <= day for t in stages)


def test_a_transaction_aborted_by_a_concurrent_update_is_retried() -> None:
    aborted = "Query error: Transaction is aborted due to concurrent update against table p:d.t."
    serialise = "Could not serialize access to table p:d.t due to concurrent update"
    errors = [BadRequest(aborted), BadRequest(serialise)]

    def swap() -> str:
        if errors:
            raise errors.pop()
        return "committed"

    def failing_swap() -> str:
        raise BadRequest("Query error: injected")

    assert engine.API_RETRY.with_delay(initial=0.01)(swap)() == "committed"
    with pytest.raises(BadRequest, match="injected"):  # other errors fail at once
        engine.API_RETRY(failing_swap)()


def _zoned_schema() -> list[bigquery.SchemaField]:
    """The trip table's schema as it was made when timestamps were zoned TIMESTAMP."""
    return [
        bigquery.SchemaField(
            c.name,
            "TIMESTAMP" if c.kind is Kind.TIMESTAMP else BIGQUERY_TYPES[c.kind],
            description=c.description,
        )
        for c in YELLOW.landed_columns
    ]


@pytest.mark.integration
def test_a_zoned_timestamp_table_becomes_wall_clock_datetime_keeping_its_values(
    local_resources: dict[str, Any],
) -> None:
    dataset = "zoned_timestamps"
    with local_resources["bigquery"].get_client() as client:
        client.create_dataset(dataset, exists_ok=True)
        full_id = engine.table_id(client, dataset, trips_table(YELLOW))
        client.delete_table(full_id, not_found_ok=True)
        old = bigquery.Table(full_id, _zoned_schema())
        old.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.MONTH, field="source_month"
        )
        old.description = YELLOW.description
        client.create_table(old)
        client.query(
            f"INSERT INTO `{full_id}` (tpep_pickup_datetime, tpep_dropoff_datetime, source_month)"
            " VALUES (TIMESTAMP '2021-02-28 23:30:00+00', TIMESTAMP '2021-03-01 00:10:00+00',"
            " DATE '2021-02-01')",
            job_retry=None,
        ).result()

        engine.ensure_trips_table(client, dataset, YELLOW)

        table = client.get_table(full_id)
        [row] = client.query(
            f"SELECT tpep_pickup_datetime AS pickup, tpep_dropoff_datetime AS dropoff"
            f" FROM `{full_id}`",
            job_retry=None,
        ).result()
    types = {f.name: f.field_type for f in table.schema}
    assert types["tpep_pickup_datetime"] == types["tpep_dropoff_datetime"] == "DATETIME"
    assert [f.name for f in table.schema] == [c.name for c in YELLOW.landed_columns]
    assert (row.pickup, row.dropoff) == (datetime(2021, 2, 28, 23, 30), datetime(2021, 3, 1, 0, 10))
    pickup = YELLOW.column("tpep_pickup_datetime")
    assert {f.name: f.description for f in table.schema}[pickup.name] == pickup.description
    assert table.description == YELLOW.description


@pytest.mark.integration
def test_months_of_two_file_layouts_land_in_one_call_each_once_with_its_version(
    tmp_path: Path, local_resources: dict[str, Any]
) -> None:
    dataset, table = "batched_months", trips_table(YELLOW)
    gcs = local_resources["gcs"]
    files, rows = [], {}
    for i, month in enumerate(["2021-03", "2021-04", "2021-05"]):
        source = write_official_month(YELLOW.name, month, 500 + 100 * i, tmp_path / "mirror")
        if month == "2021-05":  # a column the schema does not know: a second file layout
            trips = pq.read_table(source)
            pq.write_table(trips.append_column("new_fee", pa.array([1.5] * len(trips))), source)
        lake = catalog.clean_path(tmp_path / "lake", YELLOW, month)
        parquet_to_parquet(source, lake, YELLOW, month)
        key = f"batched-tests/{catalog.gcs_key(YELLOW, month)}"
        uri = upload_if_changed(gcs.get_client(), gcs.bucket, key, lake).uri
        files.append(LakeMonth(month, lake, uri, f"{i + 1:016x}"))
        rows[month] = pq.ParquetFile(lake).metadata.num_rows

    with local_resources["bigquery"].get_client() as client:
        assert engine.replace_months(client, dataset, YELLOW, files) == rows
        assert engine.replace_months(client, dataset, YELLOW, files) == rows  # again: once
        assert engine.table_row_count(client, dataset, table) == sum(rows.values())
        held = engine.held_versions(client, dataset, table, [*rows, "2021-06"])
    assert held == {**{f.month: f.version for f in files}, "2021-06": None}
    assert "new_fee" in pq.read_schema(files[-1].path).names
