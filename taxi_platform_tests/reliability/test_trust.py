"""A rejected download never replaces what was landed: a header-only trip file keeps the last
good raw file, and an HTML page served as the zone lookup changes no layer."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from taxi_platform import catalog
from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import resources_for
from taxi_platform.defs.trips import build_trip_assets, trip_asset_keys
from taxi_platform.defs.zones import build_zone_assets
from taxi_platform.lib.warehouse import bigquery as bigquery_engine
from taxi_platform.lib.warehouse import postgres as postgres_engine

pytestmark = pytest.mark.integration
MONTH = "2021-02"


@contextmanager
def _served_instead(path: Path, body: bytes) -> Iterator[None]:
    """Serve `body` at `path` of the mirror for a while, then the original file again."""
    saved = path.with_name(path.name + ".saved")
    shutil.copyfile(path, saved)
    path.write_bytes(body)
    try:
        yield
    finally:
        shutil.move(saved, path)


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

    with _served_instead(served, gzip.compress(header)):
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

    with _served_instead(stack_dir / "mirror" / catalog.ZONE_LOOKUP_PATH, page):
        result = _materialize(zones)

    assert not result.success
    message = _failure(result).strip().splitlines()[0]
    assert "not the zone lookup" in message and len(message) < 400
    assert "x" * 100 not in _failure(result)  # a short excerpt at most
    assert (lookup.read_bytes(), _zone_rows(local_resources)) == before
    assert before[1] == (265, 265)
