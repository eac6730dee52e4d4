"""The official parquet files of every schema era through every layer on the real services:
the lake, BigQuery and PostgreSQL each hold the footer's rows, money sums and null counts are
preserved, timestamps land as timestamps; unknown columns and broken files are handled."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from devstack.report import layer_counts
from devstack.tlc_parquet import ERA_MONTHS, write_official_month
from taxi_platform import catalog
from taxi_platform.catalog import DATASETS_BY_NAME, TLC, YELLOW, Column, Kind, TaxiDataset
from taxi_platform.defs.partitions import dataset_partitions
from taxi_platform.defs.resources import resources_for
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys
from taxi_platform.lib.eras import header_key
from taxi_platform.lib.warehouse import bigquery as bigquery_engine
from taxi_platform.lib.warehouse import postgres as postgres_engine

pytestmark = pytest.mark.integration
ROWS = 1_500
LAST_MONTH = "2026-08"
VARIANTS = [(name, month) for name, months in ERA_MONTHS.items() for month in months]
MONEY = {"yellow": "total_amount", "green": "total_amount", "fhvhv": "base_passenger_fare"}
NULLABLE = {"yellow": "passenger_count", "green": "passenger_count", "fhv": "do_location_id"}


def _materialize(ds: TaxiDataset, month: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        build_trip_assets(ds, dataset_partitions(ds, TLC, LAST_MONTH), TLC),
        partition_key=month,
        resources=resources_for("local"),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


@pytest.fixture(scope="module")
def mirror(stack_dir: Path, local_resources: dict[str, Any]) -> Path:
    root = stack_dir / "mirror"
    for name, month in VARIANTS:
        write_official_month(name, month, ROWS, root)
    return root


def _source_column(path: Path, column: Column) -> pa.ChunkedArray:
    """The file's column that lands as `column`, whatever its era calls it."""
    names = {header_key(n) for n in (column.source, column.name, *column.aliases)}
    [found] = [n for n in pq.read_schema(path).names if header_key(n) in names]
    return pq.read_table(path, columns=[found]).column(0)


@pytest.mark.parametrize(("name", "month"), VARIANTS, ids=[f"{n}-{m}" for n, m in VARIANTS])
def test_every_era_lands_in_every_layer(
    mirror: Path, local_resources: dict[str, Any], name: str, month: str
) -> None:
    ds = DATASETS_BY_NAME[name]
    source = mirror / "trip-data" / TLC.file_name(ds, month)
    footer_rows = pq.ParquetFile(source).metadata.num_rows

    result = _materialize(ds, month)

    assert result.success
    counts = layer_counts(local_resources, ds, month)
    assert counts["lake_rows"] == counts["bigquery_rows"] == counts["postgres_rows"] == footer_rows
    lake = pq.read_table(catalog.clean_path(local_resources["lake"].path, ds, month))
    assert lake.schema.field(ds.pickup_col).type == pa.timestamp("us")  # wall-clock
    if name in MONEY:
        landed = pc.sum(lake.column(MONEY[name])).as_py()
        raw = _source_column(source, ds.column(MONEY[name])).cast(pa.float64())
        assert landed == pytest.approx(pc.sum(raw).as_py())
        postgres = local_resources["postgres"]
        with postgres.connect() as conn:
            query = (
                f"SELECT sum({MONEY[name]}) FROM {postgres.schema}.{catalog.trips_table(ds)}"
                " WHERE source_month = %s"
            )
            [(pg_sum,)] = conn.execute(query, (f"{month}-01",)).fetchall()
        assert pg_sum == pytest.approx(landed)
    if name in NULLABLE:
        raw_nulls = _source_column(source, ds.column(NULLABLE[name])).null_count
        assert lake.column(NULLABLE[name]).null_count == raw_nulls
    [materialization] = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key == trip_asset_keys(ds)["lake"]
    ]
    assert materialization.metadata["schema_era"].value == ds.era(month)
    assert len(materialization.metadata["schema_fingerprint"].value) == 16


def test_an_unknown_column_lands_kept_in_the_lake_and_named_by_a_warning(
    mirror: Path, local_resources: dict[str, Any]
) -> None:
    month = "2026-07"
    path = write_official_month("yellow", month, ROWS, mirror)
    table = pq.read_table(path)
    fee = pa.array([0.75] * table.num_rows, pa.float64())
    pq.write_table(table.append_column("future_fee", fee), path)

    result = _materialize(YELLOW, month)

    assert result.success
    lake = pq.read_table(catalog.clean_path(local_resources["lake"].path, YELLOW, month))
    assert lake.column("future_fee").to_pylist()[:2] == [0.75, 0.75]
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "columns_known"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["unknown_columns"].value == "future_fee"
    counts = layer_counts(local_resources, YELLOW, month)
    assert counts["bigquery_rows"] == counts["postgres_rows"] == table.num_rows


def test_a_new_canonical_column_evolves_the_tables_without_reloading(
    mirror: Path, local_resources: dict[str, Any]
) -> None:
    month = "2026-06"
    assert _materialize(YELLOW, month).success
    evolved = dataclasses.replace(
        YELLOW,
        columns=(*YELLOW.columns, Column("future_fee", "future_fee", Kind.FLOAT, "A new fee.")),
    )
    table = catalog.trips_table(YELLOW)
    before = layer_counts(local_resources, YELLOW, month)

    postgres, warehouse = local_resources["postgres"], local_resources["bigquery"]
    with postgres.connect() as conn:
        postgres_engine.ensure_trips_table(conn, postgres.schema, evolved)
        query = f"SELECT count(future_fee), count(*) FROM {postgres.schema}.{table}"
        [(filled, rows)] = conn.execute(query).fetchall()
    with warehouse.get_client() as client:
        bigquery_engine.ensure_trips_table(client, warehouse.dataset_id, evolved)
        fields = client.get_table(bigquery_engine.table_id(client, warehouse.dataset_id, table))
    assert (filled, rows > 0) == (0, True)
    assert "future_fee" in {f.name for f in fields.schema}
    assert layer_counts(local_resources, YELLOW, month) == before


@pytest.mark.parametrize(
    "body",
    [b"<html><body>Access denied</body></html>" * 80, b"PAR1 truncated"],
    ids=["html-page", "truncated"],
)
def test_a_file_that_is_not_parquet_fails_in_one_line_and_keeps_what_was_landed(
    mirror: Path, local_resources: dict[str, Any], body: bytes, tmp_path: Path
) -> None:
    month = "2025-01"
    assert _materialize(YELLOW, month).success
    lake = local_resources["lake"].path
    raw, clean = catalog.raw_path(lake, TLC, YELLOW, month), catalog.clean_path(lake, YELLOW, month)
    landed = (raw.read_bytes(), clean.read_bytes(), layer_counts(local_resources, YELLOW, month))
    served = mirror / "trip-data" / TLC.file_name(YELLOW, month)
    good = tmp_path / "good.parquet"
    shutil.copyfile(served, good)
    served.write_bytes(body)
    try:
        result = _materialize(YELLOW, month)
    finally:
        shutil.copyfile(good, served)

    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.message
    first = message.strip().splitlines()[0]
    assert "yellow 2025-01" in first and "yellow_tripdata_2025-01.parquet" in first
    assert "not a valid parquet file" in first and "127.0.0.1" in first
    assert "Access denied" not in message
    assert (raw.read_bytes(), clean.read_bytes()) == landed[:2]
    assert layer_counts(local_resources, YELLOW, month) == landed[2]
