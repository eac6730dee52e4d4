"""A zone lookup that would drop landed zones, or does not parse completely, changes no layer:
the landed CSV stays byte for byte and both warehouse tables keep their 265 rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from google.api_core.exceptions import BadRequest

from devstack.mirror import served_instead
from taxi_platform import catalog
from taxi_platform.catalog import COURSE_MIRROR
from taxi_platform.defs.resources import resources_for
from taxi_platform.defs.zones import build_zone_assets
from taxi_platform.lib.warehouse import bigquery as bigquery_engine
from taxi_platform.lib.warehouse import postgres as postgres_engine

pytestmark = pytest.mark.integration
HTML = b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body></body></html>\n"


def _materialize(assets: list[dg.AssetsDefinition]) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets,
        resources=resources_for("local"),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _failure(result: dg.ExecuteInProcessResult) -> str:
    [event] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = event.event_specific_data.error.message.strip()
    return message.removeprefix("dagster._core.definitions.events.Failure: ")


def _zone_rows(resources: dict[str, Any]) -> tuple[int, int]:
    postgres, warehouse = resources["postgres"], resources["bigquery"]
    with postgres.connect() as conn:
        pg = postgres_engine.table_row_count(conn, postgres.schema, catalog.ZONE_TABLE)
    with warehouse.get_client() as client:
        bq = bigquery_engine.table_row_count(client, warehouse.dataset_id, catalog.ZONE_TABLE)
    return pg, bq


def _header_and(served: Path, rest: bytes) -> bytes:
    return served.read_bytes().split(b"\n", 1)[0] + b"\n" + rest


def _first_rows(served: Path, rows: int) -> bytes:
    return b"".join(served.read_bytes().splitlines(keepends=True)[1 : rows + 1])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (lambda served: _header_and(served, HTML), "line 2 is not a zone row"),
        (
            lambda served: _header_and(served, _first_rows(served, 3)),
            "would drop 262 of the landed zones",
        ),
    ],
    ids=["header-then-html", "header-and-3-rows"],
)
def test_a_bad_lookup_changes_no_layer(
    stack_dir: Path, local_resources: dict[str, Any], body: Any, reason: str
) -> None:
    lookup_asset, *tables = build_zone_assets(COURSE_MIRROR)
    assert _materialize([lookup_asset, *tables]).success
    lookup = catalog.zone_lookup_path(local_resources["lake"].path)
    landed = lookup.read_bytes()
    served = stack_dir / "mirror" / catalog.ZONE_LOOKUP_PATH

    with served_instead(served, body(served)):
        result = _materialize([lookup_asset])
    tables_after = _materialize(tables)

    assert not result.success
    message = _failure(result)
    assert "\n" not in message, message
    assert message.startswith("taxi_zone_lookup.csv: ") and reason in message, message
    assert f"/{catalog.ZONE_LOOKUP_PATH}" in message and "http://" in message, message
    assert lookup.read_bytes() == landed
    assert tables_after.success
    assert _zone_rows(local_resources) == (265, 265)


@pytest.mark.parametrize(
    "garble",
    [
        lambda good: good[: good.index(b",", good.index(b"\n", len(good) // 2)) + 1],
        lambda good: good + HTML,
    ],
    ids=["truncated-mid-line", "html-appended"],
)
def test_replace_zones_refuses_a_broken_csv(
    tmp_path: Path, local_resources: dict[str, Any], garble: Any
) -> None:
    lookup_asset, *tables = build_zone_assets(COURSE_MIRROR)
    assert _materialize([lookup_asset, *tables]).success
    good = catalog.zone_lookup_path(local_resources["lake"].path).read_bytes()
    broken = tmp_path / "taxi_zone_lookup.csv"
    broken.write_bytes(garble(good))
    postgres, warehouse = local_resources["postgres"], local_resources["bigquery"]

    with pytest.raises(ValueError, match="not a zone row"), postgres.connect() as conn:
        postgres_engine.replace_zones(conn, postgres.schema, broken)
    with pytest.raises(ValueError, match="not a zone row"), warehouse.get_client() as client:
        bigquery_engine.replace_zones(client, warehouse.dataset_id, broken)

    assert _zone_rows(local_resources) == (265, 265)


def test_a_failed_bigquery_load_keeps_the_zone_table(
    tmp_path: Path, local_resources: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    lookup_asset, *tables = build_zone_assets(COURSE_MIRROR)
    assert _materialize([lookup_asset, *tables]).success
    good = catalog.zone_lookup_path(local_resources["lake"].path).read_bytes()
    broken = tmp_path / "taxi_zone_lookup.csv"
    broken.write_bytes(good + b"not-an-id,Queens,Nowhere,Boro Zone\n")
    monkeypatch.setattr(bigquery_engine, "verify_zone_lookup", lambda path: None)
    warehouse = local_resources["bigquery"]

    with pytest.raises(BadRequest), warehouse.get_client() as client:
        bigquery_engine.replace_zones(client, warehouse.dataset_id, broken)

    assert _zone_rows(local_resources) == (265, 265)
