"""A rejected download never replaces what was landed: a header-only trip file keeps the last
good raw file, and an HTML page served as the zone lookup changes no layer. A sink that is
down fails its step in one line naming step, dataset and month."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from devstack.mirror import MirrorHandler, serve_directory, served_instead
from devstack.services import start_services, stop_service
from devstack.tlc_parquet import write_official_month
from taxi_platform import catalog
from taxi_platform.catalog import COURSE_MIRROR, TLC, YELLOW
from taxi_platform.defs.partitions import dataset_partitions, monthly_partitions
from taxi_platform.defs.resources import SourceDownloader, resources_for
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys
from taxi_platform.defs.zones import build_zone_assets
from taxi_platform.lib.warehouse import bigquery as bigquery_engine
from taxi_platform.lib.warehouse import postgres as postgres_engine

pytestmark = pytest.mark.integration
MONTH = "2021-02"


def _materialize(assets: list[dg.AssetsDefinition], **kwargs: Any) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets,
        resources=resources_for("local"),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        **kwargs,
    )


def _failure(result: dg.ExecuteInProcessResult) -> str:
    [event] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return event.event_specific_data.error.message


def test_a_header_only_trip_file_never_replaces_the_landed_one(
    stack_dir: Path, local_resources: dict[str, Any]
) -> None:
    [raw] = [
        a
        for a in build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR)
        if a.key == trip_asset_keys(YELLOW)["raw"]
    ]
    assert _materialize([raw], partition_key=MONTH).success
    landed = catalog.raw_path(local_resources["lake"].path, COURSE_MIRROR, YELLOW, MONTH)
    before = landed.read_bytes()
    served = stack_dir / "mirror" / "yellow" / COURSE_MIRROR.file_name(YELLOW, MONTH)
    header = gzip.decompress(served.read_bytes()).split(b"\n", 1)[0] + b"\n"

    with served_instead(served, gzip.compress(header)):
        result = _materialize([raw], partition_key=MONTH)

    assert not result.success
    assert "no data rows: the file holds a header only" in _failure(result)
    assert landed.read_bytes() == before


def _zone_rows(resources: dict[str, Any]) -> tuple[int, int]:
    postgres, warehouse = resources["postgres"], resources["bigquery"]
    with postgres.connect() as conn:
        pg = postgres_engine.table_row_count(conn, postgres.schema, catalog.ZONE_TABLE)
    with warehouse.get_client() as client:
        bq = bigquery_engine.table_row_count(client, warehouse.dataset_id, catalog.ZONE_TABLE)
    return pg, bq


def test_an_html_page_never_replaces_the_zone_lookup(
    stack_dir: Path, local_resources: dict[str, Any]
) -> None:
    zones = build_zone_assets(COURSE_MIRROR)
    assert _materialize(zones).success
    lookup = catalog.zone_lookup_path(local_resources["lake"].path)
    before = (lookup.read_bytes(), _zone_rows(local_resources))
    page = b"<html><head><title>Maintenance</title></head><body>" + b"x" * 3000 + b"</body></html>"

    with served_instead(stack_dir / "mirror" / catalog.ZONE_LOOKUP_PATH, page):
        result = _materialize(zones)

    assert not result.success
    message = _failure(result).strip().splitlines()[0]
    assert "not the zone lookup" in message and len(message) < 400
    assert "x" * 100 not in _failure(result)  # a short excerpt at most
    assert (lookup.read_bytes(), _zone_rows(local_resources)) == before
    assert before[1] == (265, 265)


class _NoEtagHandler(MirrorHandler):
    """A host that sends no ETag: only size and Last-Modified say what changed."""

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() != "etag":
            super().send_header(keyword, value)


def _fares_changed(path: Path, rows: int) -> float:
    """Rewrite the official file in place with `rows` fares changed; return the new fare sum."""
    table = pq.read_table(path)
    fares = table.column("fare_amount").to_numpy().copy()
    fares[:rows] += 1.0
    table = table.set_column(
        table.schema.get_field_index("fare_amount"), "fare_amount", pa.array(fares)
    )
    pq.write_table(table, path, compression="none", use_dictionary=False)
    return float(fares.sum())


def test_a_revision_at_the_same_size_without_an_etag_is_landed_again(
    tmp_path: Path, local_resources: dict[str, Any]
) -> None:
    month = "2024-03"
    served = write_official_month("yellow", month, 1_000, tmp_path / "mirror")
    first_sum = _fares_changed(served, 0)  # uncompressed, no dictionary: fixed-size values
    size = served.stat().st_size
    [raw, lake, postgres] = [
        a
        for a in build_trip_assets(YELLOW, dataset_partitions(YELLOW, TLC, "2026-08"), TLC)
        if a.key in {trip_asset_keys(YELLOW)[layer] for layer in ("raw", "lake", "postgres")}
    ]
    with serve_directory(tmp_path / "mirror", handler=_NoEtagHandler) as url:
        resources = {**resources_for("local"), "downloader": SourceDownloader(base_url=url)}

        def land() -> dg.ExecuteInProcessResult:
            return dg.materialize(
                [raw, lake, postgres],
                partition_key=month,
                resources=resources,
                instance=dg.DagsterInstance.ephemeral(),
            )

        assert land().success
        time.sleep(1.1)  # Last-Modified has a one-second resolution
        new_sum = _fares_changed(served, 50)
        result = land()

    assert served.stat().st_size == size and new_sum == pytest.approx(first_sum + 50)
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == raw.key]
    assert event.materialization.metadata["downloaded"].value is True
    assert event.materialization.metadata["unchanged"].value is False
    pg = local_resources["postgres"]
    with pg.connect() as conn:
        query = f"SELECT sum(fare_amount) FROM {pg.schema}.yellow_trips WHERE source_month = %s"
        [(landed_sum,)] = conn.execute(query, (f"{month}-01",)).fetchall()
    assert landed_sum == pytest.approx(new_sum)


def test_a_stopped_postgres_fails_the_sink_naming_step_dataset_and_month(
    stack_dir: Path, local_resources: dict[str, Any]
) -> None:
    assets = build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR)
    keys = trip_asset_keys(YELLOW)
    upstream = [a for a in assets if a.key in (keys["raw"], keys["lake"])]
    [sink] = [a for a in assets if a.key == keys["postgres"]]
    assert _materialize(upstream, partition_key=MONTH).success

    stop_service("postgres", stack_dir)
    try:
        failed = _materialize([sink], partition_key=MONTH)
    finally:
        start_services(stack_dir)

    assert not failed.success
    message = _failure(failed)
    assert f"yellow {MONTH}: postgres__taxi__yellow_trips_postgres failed" in message
    assert "OperationalError" in message
    assert "\n" not in message.strip() and os.environ["PG_PASSWORD"] not in message
    assert _materialize([sink], partition_key=MONTH).success  # back up: the month lands once
    rows = pq.read_metadata(catalog.clean_path(local_resources["lake"].path, YELLOW, MONTH))
    with local_resources["postgres"].connect() as conn:
        count = postgres_engine.month_row_counts(
            conn, local_resources["postgres"].schema, catalog.trips_table(YELLOW), [MONTH]
        )[MONTH]
    assert count == rows.num_rows
