"""Each dataset's freshness check, fed by the new-month sensor's probes of a real HTTP mirror
on 127.0.0.1: the sensor reports it when its verdict changes, and it can be run by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from devstack.mirror import serve_directory
from devstack.sample_data import write_month
from taxi_platform import catalog
from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.defs.freshness import SOURCE_FRESHNESS, build_freshness_check
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import LakeResource, SourceDownloader
from taxi_platform.defs.sensors import build_new_month_sensor
from taxi_platform.settings import load_settings

PARTITIONS = monthly_partitions("2019-06")
SETTINGS = load_settings()
SENSOR = build_new_month_sensor(YELLOW, COURSE_MIRROR, "yellow_monthly", PARTITIONS, SETTINGS)
RAW = dg.AssetKey(catalog.trip_key(YELLOW, "raw"))


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[str]:
    for month in ("2019-01", "2019-02"):
        write_month(YELLOW, month, 20, tmp_path / "mirror")
    with serve_directory(tmp_path / "mirror") as url:
        yield url


def _resources(url: str, lake: Path) -> dict[str, object]:
    return {"downloader": SourceDownloader(base_url=url), "lake": LakeResource(root=str(lake))}


def _reported(instance: dg.DagsterInstance, url: str, lake: Path) -> list[dg.AssetCheckEvaluation]:
    context = dg.build_sensor_context(instance=instance, resources=_resources(url, lake))
    return [e for e in SENSOR(context).asset_events if isinstance(e, dg.AssetCheckEvaluation)]


def _published_hours_ago(lake: Path, hours: float) -> None:
    """As if the sensor had first seen every unlanded month `hours` ago."""
    path = catalog.published_record_path(lake, YELLOW)
    record = json.loads(path.read_text())
    record["first_seen"] = {m: t - hours * 3600 for m, t in record["first_seen"].items()}
    path.write_text(json.dumps(record))


def test_the_sensor_reports_a_dataset_behind_the_source_once_per_verdict(
    mirror: str, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    with dg.instance_for_test() as instance:
        [fresh] = _reported(instance, mirror, lake)
        unchanged = _reported(instance, mirror, lake)
        _published_hours_ago(lake, SETTINGS.freshness_hours + 1)
        [behind] = _reported(instance, mirror, lake)

    assert (fresh.asset_key, fresh.check_name, fresh.passed) == (RAW, SOURCE_FRESHNESS, True)
    assert fresh.description == "yellow is behind the source by 2 month(s): 2019-01..2019-02"
    assert unchanged == []
    assert not behind.passed and behind.severity == dg.AssetCheckSeverity.WARN
    assert behind.description.endswith(
        f"not landed {SETTINGS.freshness_hours} h after publication: 2019-01..2019-02"
    )
    assert behind.metadata["months_overdue"].value == 2
    assert behind.metadata["newest_published"].value == "2019-02"


def _run_check(instance: dg.DagsterInstance, url: str, lake: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [build_freshness_check(YELLOW, PARTITIONS, SETTINGS)],
        instance=instance,
        resources=_resources(url, lake),
        selection=dg.AssetSelection.all_asset_checks(),
    )


def test_the_check_run_by_hand_judges_the_sensors_record(mirror: str, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    with dg.instance_for_test() as instance:
        never = _run_check(instance, mirror, lake)
        _reported(instance, mirror, lake)
        _published_hours_ago(lake, SETTINGS.freshness_hours + 1)
        late = _run_check(instance, mirror, lake)

    [before] = never.get_asset_check_evaluations()
    [after] = late.get_asset_check_evaluations()
    assert before.passed
    assert before.description == "the new-month sensor has not probed the source yet"
    assert not after.passed and "2019-01..2019-02" in (after.description or "")
